from django.contrib.contenttypes.models import ContentType
from django.db import models

from ..models import ExternalIdentity


def local_object_for_external_id(
    *, model: type[models.Model], provider: str, account_id: str, external_id: str
) -> models.Model | None:
    """The local row linked to an external id, or None. One indexed lookup, never a JSON scan."""
    content_type = ContentType.objects.get_for_model(model, for_concrete_model=True)
    link = (
        ExternalIdentity.objects.filter(
            provider=provider, account_id=account_id, content_type=content_type, external_id=external_id
        )
        .only("object_id", "organization_id")
        .first()
    )
    if link is None:
        return None
    return model.objects.for_org(link.organization_id).filter(pk=link.object_id).first()


def external_id_for_object(*, obj: models.Model, provider: str, account_id: str) -> str | None:
    content_type = ContentType.objects.get_for_model(obj, for_concrete_model=True)
    return (
        ExternalIdentity.objects.filter(
            provider=provider, account_id=account_id, content_type=content_type, object_id=obj.pk
        )
        .values_list("external_id", flat=True)
        .first()
    )
