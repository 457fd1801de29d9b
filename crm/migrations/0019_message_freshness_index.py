"""An index for the conversations' freshness in the mirror summary (crm.selectors.mirror)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0018_external_identity_org_kind_index'),
        ('tenancy', '0001_initial'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='message',
            index=models.Index(condition=models.Q(('provider_message_id', ''), _negated=True), fields=['organization', 'updated_at'], name='crm_message_org_changed'),
        ),
    ]
