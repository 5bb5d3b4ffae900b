-- One role and one schema per service: each service connects as its own role, which owns its
-- schema and nothing else, so no service can read another's tables. Run as a superuser once per
-- department database (scripts/up does it for the local suite). Passwords are set out of band
-- (ALTER ROLE … PASSWORD) in deployment; the local suite uses trust authentication on loopback.
-- A department's database holds only its own services: set `tuoyu.services` to their names
-- (`PGOPTIONS='-c tuoyu.services=registry,inspection'`); unset, all four.
DO $$
DECLARE
  svc text;
BEGIN
  FOREACH svc IN ARRAY string_to_array(
    coalesce(nullif(current_setting('tuoyu.services', true), ''), 'registry,workforce,inspection,subsidy'), ',')
  LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tuoyu_' || svc) THEN
      EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE', 'tuoyu_' || svc);
    END IF;
    EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I', svc, 'tuoyu_' || svc);
    EXECUTE format('ALTER ROLE %I SET search_path = %I', 'tuoyu_' || svc, svc);
    -- Nobody but the owner may use the schema.
    EXECUTE format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', svc);
  END LOOP;
END
$$;

-- PUBLIC loses its default rights on public.
REVOKE ALL ON SCHEMA public FROM PUBLIC;
