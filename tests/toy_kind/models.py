"""A ticket: a record with a reference (its contact), a date and time, a match key and an archive flag."""
from django.db import models

from crm.models import ArchivableModel, Contact


class Ticket(ArchivableModel):
    code = models.CharField(max_length=32, blank=True)
    title = models.CharField(max_length=80)
    status = models.CharField(max_length=16, default="open")
    due_at = models.DateTimeField(null=True, blank=True)
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        app_label = "toy_kind"
