from django.db import migrations, models
import uuid


class Migration(migrations.Migration):
    """Apart from 0006's fill: PostgreSQL refuses to alter a table with updates pending in the same transaction."""

    dependencies = [
        ('agents', '0006_toolcall_trace_and_contact'),
    ]

    operations = [
        migrations.AlterField(
            model_name='toolcall',
            name='call_id',
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
    ]
