"""Money columns from decimal(14, 2) to integer paise (bigint), converting the stored values.

PostgreSQL: one `ALTER COLUMN ... TYPE bigint USING round(col * 100)`, exact (numeric), keeping
the CHECK constraints (they compare with 0, true in both units). SQLite: its "decimal" column
held floats (0.70 - 0.40 stored as 0.29999999999999993); Django rebuilds the table with a bigint
column, then `round(col * 100)` turns each value into the nearest whole paise, which is what the
float was meant to be (drift is far below half a paisa for any balance that fits the column).
Reversible: paise back to decimal(14, 2).
"""
from decimal import Decimal

from django.db import migrations, models

import wallet.fields

COLUMNS = [("wallet", "balance"), ("transaction", "amount"), ("posting", "amount"), ("payout", "amount")]


def _decimal_field(model_name: str) -> models.DecimalField:
    if model_name == "wallet":
        return models.DecimalField(decimal_places=2, default=Decimal("0.00"), max_digits=14)
    return models.DecimalField(decimal_places=2, max_digits=14)


def _paise_field(model_name: str) -> wallet.fields.PaiseField:
    if model_name == "wallet":
        return wallet.fields.PaiseField(default=Decimal("0.00"))
    return wallet.fields.PaiseField()


def _convert(apps, schema_editor, *, to_paise: bool) -> None:
    connection = schema_editor.connection
    quote = schema_editor.quote_name
    for model_name, column in COLUMNS:
        model = apps.get_model("wallet", model_name)
        table = quote(model._meta.db_table)
        col = quote(column)
        if connection.vendor == "postgresql":
            if to_paise:
                schema_editor.execute(f"ALTER TABLE {table} ALTER COLUMN {col} TYPE bigint USING round({col} * 100)")
            else:
                schema_editor.execute(
                    f"ALTER TABLE {table} ALTER COLUMN {col} TYPE numeric(14, 2) USING ({col}::numeric / 100)")
            continue
        old, new = (_decimal_field(model_name), _paise_field(model_name))
        if not to_paise:
            old, new = new, old
        old.set_attributes_from_name(column)
        new.set_attributes_from_name(column)
        old.model = new.model = model
        schema_editor.alter_field(model, old, new)
        if to_paise:
            schema_editor.execute(f"UPDATE {table} SET {col} = CAST(round({col} * 100) AS INTEGER)")
        else:
            schema_editor.execute(f"UPDATE {table} SET {col} = round({col} / 100.0, 2)")


def forwards(apps, schema_editor):
    _convert(apps, schema_editor, to_paise=True)


def backwards(apps, schema_editor):
    _convert(apps, schema_editor, to_paise=False)


class Migration(migrations.Migration):

    dependencies = [
        ("wallet", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forwards, backwards)],
            state_operations=[
                migrations.AlterField(model_name=model_name, name=column, field=_paise_field(model_name))
                for model_name, column in COLUMNS
            ],
        ),
    ]
