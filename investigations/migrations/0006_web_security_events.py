# Written for WebSecurityEvent alone: other models added to models.py at the same time get their own migration.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("investigations", "0005_audit_review"),
    ]

    operations = [
        migrations.CreateModel(
            name="WebSecurityEvent",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("event_id", models.CharField(max_length=128, unique=True)),
                ("occurred_at", models.DateTimeField()),
                ("user", models.CharField(blank=True, max_length=320)),
                ("domain", models.CharField(blank=True, max_length=255)),
                ("url", models.TextField(blank=True)),
                ("category", models.CharField(blank=True, max_length=128)),
                ("action", models.CharField(blank=True, max_length=64)),
                ("subtype", models.CharField(blank=True, max_length=64)),
                ("policy", models.CharField(blank=True, max_length=255)),
                ("local_ip", models.CharField(blank=True, max_length=45)),
                ("public_ip", models.CharField(blank=True, max_length=45)),
                ("resolved_ip", models.CharField(blank=True, max_length=45)),
                ("raw", models.JSONField(blank=True, default=dict)),
                ("ingested_at", models.DateTimeField(auto_now=True)),
            ],
            options={
                "ordering": ["-occurred_at", "-id"],
                "indexes": [
                    models.Index(fields=["occurred_at", "id"], name="websec_time_id"),
                    models.Index(fields=["user", "occurred_at"], name="websec_user_time"),
                    models.Index(fields=["domain", "occurred_at"], name="websec_domain_time"),
                ],
            },
        ),
    ]
