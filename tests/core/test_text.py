import pytest

from apps.core.text import with_article


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
