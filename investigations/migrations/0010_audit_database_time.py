"""The database dates every audit event: the chaining trigger sets created_at from its own clock,
under the chain lock, whatever the INSERT supplied (a forged INSERT can no longer backdate an event,
and times never go backwards along seq). created_at gets a database default so that Django reads
the trigger's time back with RETURNING. SQLite (the demo) rebuilds the table for the new default,
which drops its append-only triggers, so they are created again; the Python writer dates events
there."""

import django.db.models.functions.datetime
from django.db import migrations, models

from ._audit_sql import chain_function, sqlite_append_only


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(chain_function(database_time=True), params=None)
    sqlite_append_only(apps, schema_editor)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(chain_function(database_time=False), params=None)
    sqlite_append_only(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [("investigations", "0009_audit_leaner_indexes")]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="created_at",
            field=models.DateTimeField(db_default=django.db.models.functions.datetime.Now(), db_index=True),
        ),
        migrations.RunPython(forward, backward),
    ]
