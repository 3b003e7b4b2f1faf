"""Local fakes of third-party HTTP APIs. Each one says it is a fake and speaks the real wire
format closely enough for the client library the app uses."""
