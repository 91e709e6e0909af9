"""Forced RLS on the many-to-many table of memberships and departments: its rows belong
to the tenant of the membership and the department they link."""

from django.db import migrations

from controlplane.core.tenancy import rls_through_policy_sql

TABLE = "tenants_membership_departments"


class Migration(migrations.Migration):
    dependencies = [("tenants", "0002_row_level_security")]

    operations = [
        migrations.RunSQL(
            rls_through_policy_sql(
                TABLE,
                {"membership_id": "tenants_membership", "department_id": "tenants_department"},
            ),
            f'DROP POLICY IF EXISTS tenant_isolation ON "{TABLE}";'
            f'ALTER TABLE "{TABLE}" NO FORCE ROW LEVEL SECURITY;'
            f'ALTER TABLE "{TABLE}" DISABLE ROW LEVEL SECURITY;',
        )
    ]
