from django.apps import AppConfig


class ToyKindConfig(AppConfig):
    name = "tests.toy_kind"
    label = "toy_kind"
    verbose_name = "Toy kind (tests only)"
    default_auto_field = "django.db.models.BigAutoField"
