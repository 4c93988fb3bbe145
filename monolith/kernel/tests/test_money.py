import pytest

from monolith.kernel.money import MAX_AMOUNT_MINOR, Money, MoneyError


def test_valid_money_and_arithmetic():
    a, b = Money(1050, "EUR"), Money(250, "EUR")
    assert a + b == Money(1300, "EUR")
    assert a - b == Money(800, "EUR")
    assert b.times(3) == Money(750, "EUR")
    assert Money.zero("JPY") == Money(0, "JPY")


@pytest.mark.parametrize("amount", [10.5, 10.0, "10", None, True, False])
def test_amount_must_be_an_int_not_float_str_or_bool(amount):
    with pytest.raises(MoneyError):
        Money(amount, "EUR")


@pytest.mark.parametrize("amount", [-1, MAX_AMOUNT_MINOR + 1])
def test_amount_out_of_range(amount):
    with pytest.raises(MoneyError):
        Money(amount, "EUR")


def test_bounds_are_inclusive():
    assert Money(0, "EUR").amount_minor == 0
    assert Money(MAX_AMOUNT_MINOR, "EUR").amount_minor == MAX_AMOUNT_MINOR


@pytest.mark.parametrize("currency", ["eur", "XXX", "", "EURO", None])
def test_unknown_currency(currency):
    with pytest.raises(MoneyError):
        Money(100, currency)


@pytest.mark.parametrize("op", [lambda a, b: a + b, lambda a, b: a - b])
def test_currency_mismatch(op):
    with pytest.raises(MoneyError, match="mismatch"):
        op(Money(100, "EUR"), Money(100, "USD"))


def test_subtraction_below_zero_is_refused():
    with pytest.raises(MoneyError):
        Money(100, "EUR") - Money(101, "EUR")


def test_money_is_immutable():
    m = Money(1, "EUR")
    with pytest.raises(AttributeError):
        m.amount_minor = 2  # type: ignore[misc]


def test_money_error_is_a_value_error():
    assert issubclass(MoneyError, ValueError)
