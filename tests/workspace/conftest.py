"""What the workspace's tests share: an analyst's signed-in client and the phishing campaign's message."""

import pytest


@pytest.fixture
def signed_in(client, analyst):
    client.force_login(analyst)
    return client


@pytest.fixture
def phishing_id(sim):
    return sim.state.story["phishing_message_ids"][0]
