"""The project itself: settings, migrations, the README's promise."""

from django.conf import settings
from django.contrib.auth import get_user_model


def test_person_is_the_user_model():
    assert settings.AUTH_USER_MODEL == "orgchart.Person"
    assert get_user_model()._meta.label == "orgchart.Person"
