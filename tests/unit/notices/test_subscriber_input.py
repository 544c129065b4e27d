"""Numbers and names given to the subscriber-list CLI and API, and stored lists joined
with the file's: checked, each number once, without a database."""

from __future__ import annotations

import pytest

from shared.notices.model import SubscriberList
from shared.notices.subscriber_input import ListNameError, checked_list_name, checked_numbers
from shared.notices.subscriber_store import merged_lists


def test_numbers_are_stored_as_e164_once_and_each_bad_one_is_named_by_position() -> None:
    checked = checked_numbers(["+1 415 555 0101", "+14155550101", "0800 123", "+442079460958"])
    assert checked.numbers == ("+14155550101", "+442079460958")
    assert checked.duplicates == 1
    [bad] = checked.bad
    assert (bad.index, bad.text) == (2, "0800 123")
    assert str(bad).startswith('bad phone number "0800 123": must be an E.164 number')


def test_an_invalid_number_for_its_country_is_refused() -> None:
    [bad] = checked_numbers(["+999123"]).bad
    assert "not" in bad.reason


@pytest.mark.parametrize("name", ["customers", "vip-2", "a.b_c", "x" * 64])
def test_list_names_a_notice_can_use(name: str) -> None:
    assert checked_list_name(name) == name


@pytest.mark.parametrize("name", ["", "-x", "no spaces", "x" * 65, "é"])
def test_other_names_are_refused_with_the_rule(name: str) -> None:
    with pytest.raises(ListNameError, match="is not a list name: 1 to 64"):
        checked_list_name(name)


def test_a_stored_list_joins_the_files_list_of_that_name_each_number_once() -> None:
    in_file = {"customers": SubscriberList(name="customers", numbers=("+14155550101",))}
    merged = merged_lists(in_file, {"customers": ["+14155550102", "+14155550101"], "vip": []})
    assert merged["customers"].numbers == ("+14155550101", "+14155550102")
    assert merged["vip"].numbers == ()
    assert in_file["customers"].numbers == ("+14155550101",)  # the file's own is untouched
