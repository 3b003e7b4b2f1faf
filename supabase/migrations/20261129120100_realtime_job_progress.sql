-- Live job progress: publish public.jobs and public.job_items to Supabase Realtime, so a dashboard
-- subscribes to changes (postgres_changes, filtered by RLS: a user receives only their own rows)
-- instead of polling GET /v1/jobs/get.
--
-- Only where the supabase_realtime publication exists (every Supabase project has it); on plain
-- Postgres (the embedded server, CI) this does nothing. Safe to run again: tables already
-- published, or a publication FOR ALL TABLES, are left as they are. Where Realtime is enabled
-- later, run the same block again (e.g. in the SQL editor).
do $$
declare
  v_table text;
begin
  if not exists (select 1 from pg_catalog.pg_publication p where p.pubname = 'supabase_realtime') then
    return;
  end if;
  if (select p.puballtables from pg_catalog.pg_publication p where p.pubname = 'supabase_realtime') then
    return;
  end if;
  foreach v_table in array array['jobs', 'job_items'] loop
    if not exists (
      select 1 from pg_catalog.pg_publication_tables t
       where t.pubname = 'supabase_realtime' and t.schemaname = 'public' and t.tablename = v_table
    ) then
      execute format('alter publication supabase_realtime add table public.%I', v_table);
    end if;
  end loop;
end
$$;
