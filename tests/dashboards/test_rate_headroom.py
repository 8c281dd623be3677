"""What the pacer tells the admin's home about the rate budget: a snapshot that books nothing."""

from investigations.mimecast.pacing import RatePacer


def test_a_pacer_knows_nothing_before_the_first_answer():
    headroom = RatePacer(clock=lambda: 0.0).headroom()
    assert (headroom.remaining, headroom.interval, headroom.in_flight) == (None, 0.0, 0)


def test_the_headroom_is_the_newest_answers_budget_and_reading_it_books_nothing():
    pacer = RatePacer(clock=lambda: 0.0)
    pacer.book()
    pacer.release({"X-RateLimit-Remaining": "41", "X-RateLimit-Reset": "250"})
    pacer.book()
    headroom = pacer.headroom()
    # 41 left by the answer, one booked since: 40 may start at once; one call every 0.25 s once spent.
    assert (headroom.remaining, headroom.interval, headroom.in_flight) == (40, 0.25, 1)
    assert pacer.headroom() == headroom
