"""How the web security ingestion last went: one row the periodic task writes and the page reads."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("investigations", "0010_audit_database_time"),
    ]

    operations = [
        migrations.CreateModel(
            name="WebSecurityIngestStatus",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("last_run_at", models.DateTimeField(blank=True, null=True)),
                ("last_success_at", models.DateTimeField(blank=True, null=True)),
                ("event_types", models.JSONField(blank=True, default=list)),
                ("error", models.TextField(blank=True)),
                ("error_code", models.CharField(blank=True, max_length=128)),
                ("error_at", models.DateTimeField(blank=True, null=True)),
                ("refused", models.BooleanField(default=False)),
            ],
        ),
    ]
