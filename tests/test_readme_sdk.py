"""The README's supabase-js examples against the catalog: every relation and column they use
exists and is readable by ``authenticated``; every relation the README points the browser to
answers ``select *`` as a signed-in user and has no secret-looking column."""

from __future__ import annotations

import re

import pytest

from app import migrate
from tests.conftest import as_user, make_key, make_user

README = (migrate.ROOT / "README.md").read_text()
SECTION = README.split("## The browser SDK path (supabase-js)", 1)[-1].split("\n## ", 1)[0]
JS_BLOCKS = re.findall(r"```(?:js|javascript|ts)\n(.*?)```", README, re.DOTALL)
SECRET_LIKE = re.compile(r"hash|secret|password|token")
FILTER_METHODS = r"eq|neq|gt|gte|lt|lte|in|is|like|ilike|order|match"
EMBED = re.compile(r"(\w+)\(([^()]*)\)")  # a resource embedded in a select: relation(columns)


def _statements(block: str) -> list[str]:
    """A JS block's statements: lines that start with whitespace, ``.`` or ``)`` continue the
    statement above."""
    statements: list[str] = []
    for line in block.splitlines():
        if statements and (line[:1] in (" ", "\t", ".", ")") or not line.strip()):
            statements[-1] += "\n" + line
        else:
            statements.append(line)
    return statements


def _columns(selected: str) -> set[str]:
    """The columns of a select list (``*`` included), without its embedded resources."""
    return {c.strip() for c in EMBED.sub("", selected).split(",") if c.strip()}


def sdk_embeds() -> set[tuple[str, str]]:
    """``{(relation, embedded relation)}`` of the README's selects, e.g.
    ``.from('a').select('*, b(x)')`` gives ``('a', 'b')``."""
    embeds = set()
    for block in JS_BLOCKS:
        for statement in _statements(block):
            for match in re.finditer(r"\.from\('(\w+)'\)", statement):
                for selected in re.findall(r"\.select\('([^']*)'\)", statement[match.end() :]):
                    embeds.update((match.group(1), e) for e, _ in EMBED.findall(selected))
    return embeds


def sdk_uses() -> dict[str, set[str]]:
    """``{relation: columns}`` used by the README's JS examples (``*`` for ``select('*')``),
    embedded relations included."""
    uses: dict[str, set[str]] = {}
    for block in JS_BLOCKS:
        for statement in _statements(block):
            for match in re.finditer(r"\.from\('(\w+)'\)", statement):
                columns = uses.setdefault(match.group(1), set())
                chain = statement[match.end() :]
                for selected in re.findall(r"\.select\('([^']*)'\)", chain):
                    columns.update(_columns(selected))
                    for embedded, embedded_columns in EMBED.findall(selected):
                        uses.setdefault(embedded, set()).update(_columns(embedded_columns))
                columns.update(re.findall(rf"\.(?:{FILTER_METHODS})\('(\w+)'", chain))
            for table, column in re.findall(r"table: '(\w+)'(?:, filter: `(\w+)=)?", statement):
                uses.setdefault(table, set()).update([column] if column else [])
    return uses


def section_relations() -> list[str]:
    """Relations named in the first column of the section's table."""
    rows = re.findall(r"^\| (`[^|]+`) \|", SECTION, re.MULTILINE)
    return sorted({name for row in rows for name in re.findall(r"`(\w+)`", row)})


def test_the_section_shows_the_sdk_path_end_to_end():
    code = "\n".join(JS_BLOCKS)
    assert "signInWithPassword" in code  # sign in
    uses = sdk_uses()
    # read balance and usage, list keys with status, watch a job
    assert {"credit_balances", "daily_usage", "api_key_status", "jobs", "job_items"} <= set(uses)
    assert "status" in uses["api_key_status"] or "*" in uses["api_key_status"]
    # their own lookup history, select('*'), with the profile each lookup returned
    assert "*" in uses["creator_lookups"]
    assert ("creator_lookups", "creator_profile_snapshots") in sdk_embeds()
    assert "creator_profiles" not in uses  # never the cache
    assert "postgres_changes" in code and ".subscribe()" in code
    assert section_relations() == [
        "api_key_status",
        "creator_lookups",
        "creator_profile_snapshots",
        "credit_balances",
        "credit_ledger",
        "credit_packs",
        "daily_usage",
        "job_items",
        "jobs",
        "webhook_deliveries",
    ]


@pytest.mark.parametrize(("relation", "columns"), sorted(sdk_uses().items()))
def test_every_example_column_exists_and_is_readable(db, relation, columns):
    explicit = sorted(columns - {"*"})
    found = db.execute(
        "select a.attname from pg_catalog.pg_attribute a"
        " where a.attrelid = %s::regclass and a.attnum > 0 and not a.attisdropped"
        "   and pg_catalog.has_column_privilege('authenticated', a.attrelid, a.attnum, 'SELECT')",
        (f"public.{relation}",),
    ).fetchall()
    assert set(explicit) <= {r["attname"] for r in found}, relation


@pytest.mark.parametrize(("relation", "embedded"), sorted(sdk_embeds()))
def test_every_embed_follows_a_foreign_key(db, relation, embedded):
    """PostgREST embeds a relation only along a foreign key between the two."""
    found = db.execute(
        "select 1 from pg_catalog.pg_constraint where contype = 'f'"
        " and ((conrelid = %(a)s::regclass and confrelid = %(b)s::regclass)"
        "   or (conrelid = %(b)s::regclass and confrelid = %(a)s::regclass))",
        {"a": f"public.{relation}", "b": f"public.{embedded}"},
    ).fetchall()
    assert len(found) == 1, (relation, embedded)


@pytest.mark.parametrize("relation", section_relations())
def test_select_star_works_as_a_signed_in_user_and_shows_no_secret(db, relation):
    user = make_user(db, credits=3)
    make_key(db, user)
    with as_user(db, user):
        cursor = db.execute(f"select * from public.{relation} limit 1")
        columns = [c.name for c in cursor.description]
    assert columns
    assert [c for c in columns if SECRET_LIKE.search(c)] == []
