import pytest
from django.core.exceptions import ValidationError

from apps.plugins.property_types import PropertyType, validate_property_value

VALID = [
    ("STRING", {"value": ""}),
    ("STRING", {"value": "mediarithmics"}),
    ("STRING", {"value": None}),
    ("STRING", {}),
    ("INT", {"value": 42}),
    ("INT", {"value": -(2**31)}),
    ("LONG", {"value": 2**40}),
    ("DOUBLE", {"value": 0.5}),
    ("DOUBLE", {"value": 3}),
    ("BOOLEAN", {"value": False}),
    ("URL", {"url": "https://customer.example/feed.csv"}),
    ("DATA_FILE", {"uri": "mics://data_file/tenants/1/f.json", "last_modified": 1562595783663}),
    ("ASSET", {"original_file_name": "logo.png", "asset_id": "12", "file_path": "/a/logo.png"}),
    ("ASSET_FOLDER", {"original_name": "x", "asset_id": "1", "path": "/x"}),
    ("AD_LAYOUT", {"id": "3", "version": "1"}),
    ("PIXEL_TAG", {"value": "<img src=x>"}),
    ("RECOMMENDER", {"recommender_id": "9"}),
    ("DATAMART_ID", {"value": "1509"}),
]

INVALID = [
    ("STRING", "plain", "A value of type STRING is an object"),
    ("STRING", {"value": 3}, "must be a string"),
    ("INT", {"value": "3"}, "32-bit integer"),
    ("INT", {"value": 2**31}, "32-bit integer"),
    ("INT", {"value": True}, "32-bit integer"),
    ("INT", {"value": 1.5}, "32-bit integer"),
    ("LONG", {"value": 2**63}, "64-bit integer"),
    ("DOUBLE", {"value": "1.5"}, "finite number"),
    ("DOUBLE", {"value": float("inf")}, "finite number"),
    ("BOOLEAN", {"value": "true"}, "true or false"),
    ("BOOLEAN", {"value": 1}, "true or false"),
    ("URL", {"url": "not a url"}, "http or https URL"),
    ("URL", {"url": "ftp://files.example/x"}, "http or https URL"),
    ("URL", {"value": "https://x.example"}, "Unknown key 'value'"),
    ("DATA_FILE", {"uri": "x", "last_modified": "yesterday"}, "epoch milliseconds"),
    ("ASSET", {"asset_id": 12}, "must be a string"),
    ("NOT_A_TYPE", {"value": 1}, "Unknown property type"),
]


@pytest.mark.parametrize(("property_type", "value"), VALID)
def test_accepts_values_of_the_right_shape(property_type, value):
    validate_property_value(property_type, value)


@pytest.mark.parametrize(("property_type", "value", "reason"), INVALID)
def test_refuses_values_of_the_wrong_shape_saying_why(property_type, value, reason):
    with pytest.raises(ValidationError) as caught:
        validate_property_value(property_type, value)
    assert reason in caught.value.messages[0]


def test_every_type_has_a_value_shape():
    for property_type in PropertyType.values:
        validate_property_value(property_type, {})
