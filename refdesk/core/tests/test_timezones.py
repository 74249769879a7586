"""The curated time-zone list offered on pages."""

import zoneinfo

from refdesk.core.timezones import choice_values, country_timezone_choices


def test_every_zone_is_a_canonical_iana_zone_listed_once():
    choices = country_timezone_choices(("US",), "Choose a time zone")
    assert choices[0] == ("", "Choose a time zone")
    values = [value for _group, options in choices[1:] for value, _label in options]
    assert len(values) == len(set(values)) > 300
    assert set(values) <= zoneinfo.available_timezones()
    assert set(values) == choice_values(choices)
    # No deprecated aliases or fixed offsets, whatever tzdata still ships for compatibility.
    for alias in ("US/Eastern", "US/Pacific", "EST", "EST5EDT", "GB", "UTC", "Etc/GMT+5"):
        assert alias not in values
    assert not [value for value in values if value.startswith(("Etc/", "SystemV/"))]


def test_the_countries_usual_zones_come_first_in_everyday_words():
    groups = country_timezone_choices(("US",))
    (first, common), (second, others) = groups[0], groups[1]
    assert first == "United States" and second == "More United States time zones"
    assert common[0] == ("America/New_York", "Eastern time (New York)")
    assert "America/Detroit" in dict(others)
    assert groups[-1][0] == "Other countries"
    assert dict(groups[-1][1])["Europe/London"] == "Britain (UK)"


def test_a_country_without_curated_words_lists_its_zones_by_city():
    groups = country_timezone_choices(("CA",))
    name, zones = groups[0]
    assert name == "Canada" and "America/Toronto" in dict(zones)
    assert "America/New_York" in dict(groups[-1][1])
