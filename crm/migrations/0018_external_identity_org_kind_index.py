"""The links' organization index becomes (organization, kind, last_synced_at): the mirror summary reads an
organization's links of one kind and their newest agreement from it. Added before the old one goes."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('crm', '0017_external_identity_group_marks'),
        ('tenancy', '0001_initial'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='externalidentity',
            index=models.Index(fields=['organization', 'content_type', 'last_synced_at'], name='crm_extid_org_kind_synced'),
        ),
        migrations.AlterField(
            model_name='externalidentity',
            name='organization',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenancy.organization'),
        ),
    ]
