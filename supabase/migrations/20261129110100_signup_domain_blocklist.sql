-- Free signup credits invite farming with throw-away addresses. Supabase Auth calls
-- public.hook_before_user_created(event) before it creates any user (sign-up, admin create,
-- OAuth, anonymous: supabase/config.toml [auth.hook.before_user_created]); the hook refuses
-- e-mail domains listed in private.signup_blocked_domains, a table admins edit in Studio.

create table private.signup_blocked_domains (
  domain text primary key
    check (domain = lower(domain) and domain ~ '^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$'),
  reason text,
  created_at timestamptz not null default now()
);
comment on table private.signup_blocked_domains is
  'E-mail domains refused at sign-up by public.hook_before_user_created (a listed domain also '
  'blocks its subdomains). Edit in Studio: lower case, no "@", e.g. mailinator.com. '
  'Read by supabase_auth_admin; service-only otherwise.';
comment on column private.signup_blocked_domains.reason is 'Why the domain is blocked (for admins).';
alter table private.signup_blocked_domains enable row level security;

create function public.hook_before_user_created(event jsonb)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  v_email text := lower(btrim(coalesce(event -> 'user' ->> 'email', '')));
  v_domain text := rtrim(substring(v_email from '@([^@]*)$'), '.');
begin
  if v_domain is not null and v_domain <> '' and exists (
    select 1
      from private.signup_blocked_domains b
     where v_domain = b.domain or v_domain like '%.' || b.domain
  ) then
    return jsonb_build_object(
      'error', jsonb_build_object(
        'http_code', 403,
        'message', 'Sign-ups with e-mail addresses at this domain are not allowed.'
      )
    );
  end if;
  return '{}'::jsonb;
end
$$;
comment on function public.hook_before_user_created(jsonb) is
  'Supabase Auth "before user created" hook (pg-functions://postgres/public/hook_before_user_created). '
  'Takes the hook event {metadata, user: {email, ...}}; returns {} to allow, or '
  '{"error": {"http_code": 403, "message"}} when the e-mail domain (or a parent domain) is in '
  'private.signup_blocked_domains. Executable by supabase_auth_admin only.';

revoke execute on function public.hook_before_user_created(jsonb) from public, anon, authenticated;
grant execute on function public.hook_before_user_created(jsonb) to supabase_auth_admin;
grant usage on schema private to supabase_auth_admin;
grant select on private.signup_blocked_domains to supabase_auth_admin;
create policy "signup_blocked_domains: auth reads" on private.signup_blocked_domains
  for select to supabase_auth_admin using (true);
