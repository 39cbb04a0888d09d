"""Store the replayed response as its exact JSON text (jsonb reorders keys on PostgreSQL)."""
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [("wallet", "0003_topups_payout_accounts")]

    operations = [
        migrations.AlterField(model_name="idempotencykey", name="response_body",
                              field=models.TextField(blank=True, null=True)),
    ]
