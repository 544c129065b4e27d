from shared.notifications.priority import page_priority


def test_critical_first_page_goes_first():
    assert page_priority("critical") == 0
    assert page_priority("critical") < page_priority("error") < page_priority("warning")


def test_repeats_and_recalls_come_after_first_pages_of_the_same_severity():
    assert page_priority("critical", round=1) > page_priority("critical")
    assert page_priority("critical", attempt=1) > page_priority("critical")
    assert page_priority("critical", round=1) <= page_priority("warning")


def test_unknown_severity_and_bounds():
    assert page_priority("bogus") == 6
    assert page_priority("info", round=3) == 9
