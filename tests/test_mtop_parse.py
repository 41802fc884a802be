"""The decoupled-parse aligner recovers a nested intent's dropped words at a slot's edges
(pqcompile.datasets.mtop_parse.extend_edges), and leaves every other slot as the parse says."""
import pytest

from pqcompile.datasets.mtop_parse import align_slots, flat_frame


def spans(sentence, parse):
    _, slots = flat_frame(parse)
    out = align_slots(sentence, slots)
    assert not isinstance(out, str), out
    return [(label, sentence[s:e]) for label, s, e in out]


@pytest.mark.parametrize("sentence, parse, expected", [
    # left: the nested call's verb, after the outer intent's "to"
    ("remind me to call ella at 8 am",
     "[IN:CREATE_REMINDER [SL:PERSON_REMINDED me ] [SL:TODO [IN:CREATE_CALL [SL:CONTACT ella ] ] ] "
     "[SL:DATE_TIME at 8 am ] ]",
     [("SL:PERSON_REMINDED", "me"), ("SL:TODO", "call ella"), ("SL:DATE_TIME", "at 8 am")]),
    # two words, several levels down, from the sentence start
    ("I need to video chat my dad tomorrow, can you set a reminder",
     "[IN:CREATE_REMINDER [SL:TODO [IN:GET_TODO [SL:TODO [IN:CREATE_CALL [SL:CONTACT [IN:GET_CONTACT "
     "[SL:CONTACT_RELATED my ] [SL:TYPE_RELATION dad ] ] ] ] ] [SL:DATE_TIME tomorrow ] ] ] ]",
     [("SL:TODO", "video chat my dad tomorrow")]),
    # left: "with" before an attendee; a possessive name
    ("Show me all reminders I have with Tina",
     "[IN:GET_REMINDER [SL:PERSON_REMINDED I ] [SL:TODO [IN:GET_TODO [SL:ATTENDEE Tina ] ] ] ]",
     [("SL:PERSON_REMINDED", "I"), ("SL:TODO", "with Tina")]),
    ("Call Mark's mom", "[IN:CREATE_CALL [SL:CONTACT [IN:GET_CONTACT [SL:TYPE_RELATION mom ] ] ] ]",
     [("SL:CONTACT", "Mark's mom")]),
    # right: a possessive location up to the next slot or punctuation; an empty nested location
    ("Delete the reminder for the party at Jim's house?",
     "[IN:DELETE_REMINDER [SL:TODO [IN:GET_TODO [SL:TODO the party ] [SL:LOCATION [IN:GET_LOCATION "
     "[SL:CONTACT Jim ] ] ] ] ] ]",
     [("SL:TODO", "the party at Jim's house")]),
    ("Remind me to stop for eggs on the way home today",
     "[IN:CREATE_REMINDER [SL:PERSON_REMINDED me ] [SL:TODO [IN:GET_TODO [SL:TODO stop for eggs ] "
     "[SL:LOCATION [IN:GET_LOCATION ] ] ] ] [SL:DATE_TIME today ] ]",
     [("SL:PERSON_REMINDED", "me"), ("SL:TODO", "stop for eggs on the way home"), ("SL:DATE_TIME", "today")]),
])
def test_dropped_edge_words_are_recovered(sentence, parse, expected):
    assert spans(sentence, parse) == expected


@pytest.mark.parametrize("sentence, parse, expected", [
    # the verb belongs to the top-level intent, not to the nested contact
    ("What time did I call Mum yesterday?",
     "[IN:GET_CALL_TIME [SL:CONTACT [IN:GET_CONTACT [SL:TYPE_RELATION Mum ] ] ] [SL:DATE_TIME yesterday ] ]",
     [("SL:CONTACT", "Mum"), ("SL:DATE_TIME", "yesterday")]),
    # "with" before a contact (not an attendee) stays out; a contraction is not a possessive
    ("Start a video call with my husband",
     "[IN:CREATE_CALL [SL:CONTACT [IN:GET_CONTACT [SL:CONTACT_RELATED my ] [SL:TYPE_RELATION husband ] ] ] ]",
     [("SL:CONTACT", "my husband")]),
    ("what's mom doing", "[IN:GET_INFO [SL:CONTACT [IN:GET_CONTACT [SL:TYPE_RELATION mom ] ] ] ]",
     [("SL:CONTACT", "mom")]),
    # plain slots never grow, and an extension never crosses another slot
    ("remind me to call bob", "[IN:CREATE_REMINDER [SL:PERSON_REMINDED me ] [SL:TODO call bob ] ]",
     [("SL:PERSON_REMINDED", "me"), ("SL:TODO", "call bob")]),
    ("call me about it", "[IN:CREATE_REMINDER [SL:PERSON_REMINDED me ] [SL:TODO [IN:CREATE_CALL [SL:CONTACT it ] ] ] ]",
     [("SL:PERSON_REMINDED", "me"), ("SL:TODO", "it")]),
])
def test_other_slots_are_left_as_the_parse_says(sentence, parse, expected):
    assert spans(sentence, parse) == expected
