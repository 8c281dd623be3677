"""The directory pages' tests sign in as the analyst persona."""

import pytest


@pytest.fixture
def signed_in(client, analyst):
    client.force_login(analyst)
    return client
