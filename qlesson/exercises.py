"""Self-checks for the exercises at the end of each lesson, with feedback in the active language."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from .i18n import LANGUAGES, get_language, join_choices, localize, register_messages

register_messages({
    "exercise.unanswered": {
        "en": "Not answered yet: replace None with your answer and run the cell again.",
        "zh-TW": "尚未作答：請把 None 換成你的答案，再執行一次這個儲存格。",
    },
    "exercise.correct": {
        "en": "Correct.",
        "zh-TW": "答對了。",
    },
    "exercise.wrong": {
        "en": "Not yet. Hint: {hint}",
        "zh-TW": "還不對。提示：{hint}",
    },
    "exercise.hint_not_mapping": {
        "en": "hint must be a dict from language tag to text, got {value!r}. Pass one such as {{'en': '…', "
              "'zh-TW': '…'}}.",
        "zh-TW": "hint 必須是從語言標籤對應到文字的 dict，收到的是 {value!r}。請傳入像 {{'en': '…', 'zh-TW': '…'}} "
                 "這樣的 dict。",
    },
    "exercise.hint_missing": {
        "en": "hint must have a text for every language {languages}, got {value!r}. Add the missing {missing} "
              "text, as in {{'en': '…', 'zh-TW': '…'}}.",
        "zh-TW": "hint 必須為每個語言 {languages} 各給一段文字，收到的是 {value!r}。請補上缺少的 {missing} 文字，"
                 "例如 {{'en': '…', 'zh-TW': '…'}}。",
    },
    "exercise.hint_not_text": {
        "en": "hint[{tag!r}] must be a str, got {value!r}. Write the hint as text.",
        "zh-TW": "hint[{tag!r}] 必須是字串（str），收到的是 {value!r}。請把提示寫成文字。",
    },
    "exercise.wrong_shape": {
        "en": "Not yet: the answer has shape {shape}, the expected shape is {expected}.",
        "zh-TW": "還不對：答案的形狀是 {shape}，預期的形狀是 {expected}。",
    },
})


@dataclass(frozen=True)
class Feedback:
    """The outcome of one self-check; prints as a sentence in the active language."""

    correct: bool
    message: str

    def __repr__(self) -> str:
        return self.message


def _check_hint(hint: object) -> None:
    """Raise unless ``hint`` maps every language tag to a str."""
    if not isinstance(hint, Mapping):
        raise TypeError(localize("exercise.hint_not_mapping", value=hint))
    missing = [language for language in LANGUAGES if language not in hint]
    if missing:
        raise ValueError(localize("exercise.hint_missing", languages=LANGUAGES, value=dict(hint),
                                  missing=join_choices(repr(language) for language in missing)))
    for language in LANGUAGES:
        if not isinstance(hint[language], str):
            raise TypeError(localize("exercise.hint_not_text", tag=language, value=hint[language]))


def check_answer(answer: object, expected: object, hint: Mapping[str, str]) -> Feedback:
    """Compare a learner's answer with the expected value exactly and return localized feedback.

    ``answer`` and ``expected`` are ints or integer tensors; ``hint`` maps each language tag to a
    hint that is shown, in the active language, when the answer is wrong.
    """
    # The hint is checked before the answer, so a missing translation shows up on the first run.
    _check_hint(hint)
    if answer is None:
        return Feedback(False, localize("exercise.unanswered"))
    if isinstance(expected, torch.Tensor):
        answer_tensor = torch.as_tensor(answer)
        if tuple(answer_tensor.shape) != tuple(expected.shape):
            return Feedback(False, localize("exercise.wrong_shape", shape=tuple(answer_tensor.shape),
                                            expected=tuple(expected.shape)))
        correct = bool(torch.equal(answer_tensor.to(torch.int64), expected.to(torch.int64)))
    else:
        correct = answer == expected
    if correct:
        return Feedback(True, localize("exercise.correct"))
    return Feedback(False, localize("exercise.wrong", hint=hint[get_language()]))
