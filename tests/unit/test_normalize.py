from include.normalize import NormalizeOptions, norm_hash, normalize_text


def test_fingerprint_folds_case_punctuation_space_and_width():
    a = "100 degrees Celsius (212 degrees Fahrenheit)."
    b = "100  degrees celsius 212 degrees fahrenheit!!"
    assert normalize_text(a) == normalize_text(b) == "100 degrees celsius 212 degrees fahrenheit"
    # NFKC: full-width letters and ligatures fold to their plain forms
    assert normalize_text("Ｈｅｌｌｏ ﬁne") == "hello fine"
    assert norm_hash(a) == norm_hash(b)


def test_unicode_punctuation_and_symbols_are_removed():
    assert normalize_text("«Bonjour» — ça va? ★") == "bonjour ça va"


def test_options_can_keep_case_and_punctuation():
    opts = NormalizeOptions(lowercase=False, strip_punctuation=False)
    assert normalize_text("Hi,  There!", opts) == "Hi, There!"
    assert norm_hash("Hi there", opts) != norm_hash("hi there", opts)


def test_empty_text_has_a_stable_hash():
    assert normalize_text(None) == "" and norm_hash("") == norm_hash(None)
    assert len(norm_hash("x")) == 32
