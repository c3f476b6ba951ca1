"""Self-checks for the exercises at the end of each lesson, with feedback in the active language."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .i18n import get_language, localize, register_messages

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


def check_answer(answer: object, expected: object, hint: dict[str, str]) -> Feedback:
    """Compare a learner's answer with the expected value exactly and return localized feedback.

    ``answer`` and ``expected`` are ints or integer tensors; ``hint`` maps each language tag to a
    hint that is shown, in the active language, when the answer is wrong.
    """
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
