"""Fewer indexes on the audit table: each one an append maintains lengthens the chain lock.

actor_id and action are served by their (field, seq) indexes; hash needs no unique index (seq is
unique and the hash covers it). SQLite rebuilds the table here, so its append-only triggers are
created again."""

from django.db import migrations, models

from ._audit_sql import sqlite_append_only


class Migration(migrations.Migration):

    dependencies = [
        ('investigations', '0008_audit_chain_in_database'),
    ]

    operations = [
        migrations.AlterField(
            model_name='auditevent',
            name='action',
            field=models.CharField(max_length=64),
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='actor_id',
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='hash',
            field=models.CharField(db_default='', max_length=64),
        ),
        migrations.RunPython(sqlite_append_only, sqlite_append_only),
    ]
