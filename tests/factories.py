import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from investigations.models import Investigation, RemediationRequest

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    password = factory.django.Password(PASSWORD)

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.set(Group.objects.filter(name__in=extracted))


class InvestigationFactory(factory.django.DjangoModelFactory):
    """A case written straight to its table: no member, no audit event (case_create adds both)."""

    class Meta:
        model = Investigation

    title = "Credential phishing wave"
    reason = "User reported phishing, ticket INC-4242"
    ticket_id = "INC-4242"
    owner = factory.SubFactory(UserFactory)
    created_at = factory.LazyFunction(timezone.now)
    updated_at = factory.SelfAttribute("created_at")


class RemediationRequestFactory(factory.django.DjangoModelFactory):
    """A request written straight to its table, in the state a test names, without the engine (no items,
    no steps, no audit events). Every date is `at` (now); `finished` dates its submission, decision and
    end too."""

    class Meta:
        model = RemediationRequest

    class Params:
        at = factory.LazyFunction(timezone.now)
        finished = factory.Trait(
            submitted_at=factory.SelfAttribute("at"),
            decided_at=factory.SelfAttribute("at"),
            finished_at=factory.SelfAttribute("at"),
        )

    reason = "A test request with a long enough reason"
    nonce = factory.Sequence(lambda n: f"test{n:04d}")
    requested_by = factory.SubFactory(UserFactory)
    created_at = factory.SelfAttribute("at")
    updated_at = factory.SelfAttribute("at")
