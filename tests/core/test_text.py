import pytest

from apps.core.text import counted, errors_in_brief, with_article


@pytest.mark.parametrize(
    ("words", "said"),
    [
        ("active", "an active"),
        ("ACTIVE", "an ACTIVE"),
        ("Object", "an Object"),
        ("RUNNING", "a RUNNING"),
        ("loading or staging", "a loading or staging"),
    ],
)
def test_words_take_the_article_their_first_letter_calls_for(words, said):
    assert with_article(words) == said


@pytest.mark.parametrize(
    ("number", "noun", "plural", "said"),
    [
        (0, "record", "", "0 records"),
        (1, "record", "", "1 record"),
        (1_234_567, "record", "", "1,234,567 records"),
        (2, "batch", "batches", "2 batches"),
    ],
)
def test_a_number_takes_the_form_of_its_noun_it_calls_for(number, noun, plural, said):
    assert counted(number, noun, plural) == said


def test_errors_in_brief_place_the_first_error_and_count_them_all():
    first = {"file": "a.csv", "row": 2, "field": "amount", "message": "'ten' is not a number."}
    assert errors_in_brief([first], 3) == (
        "3 errors; first: file a.csv, row 2, field amount: 'ten' is not a number."
    )
    assert errors_in_brief([first], 1, where=("row",)) == (
        "1 error; first: row 2: 'ten' is not a number."
    )


def test_one_error_about_no_place_is_its_message_alone():
    whole = {"file": "a.csv", "row": None, "field": None, "message": "The file holds no records."}
    assert errors_in_brief([whole], 1, where=("row", "field")) == "The file holds no records."
    assert errors_in_brief([], 0) == "unknown"
