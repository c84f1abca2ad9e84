"""The LangChain example of the tracing guide (../shared/spec/tracing-guide.rst, "LangChain" tab), run as
written with ``mlflow`` spelled ``spanlog``.

Two facts about the example decide what "as written" means here:

- It imports ``PromptTemplate`` from ``langchain.prompts``. That module re-exported
  ``langchain_core.prompts`` in the langchain 0.2 the guide pins; langchain 1.x (the line that works with
  langchain-core 1.x) removed it, and langchain-classic names it ``langchain_classic.prompts``. No package
  makes the old path importable next to langchain-core 1.x, so the test maps ``langchain.prompts`` to the
  module it re-exported.
- It never uses that import: it pipes the template *string* into the model (``prompt_template | llm``),
  which LangChain rejects with a TypeError. Run as written, the example fails there, before any call; the
  test asserts exactly that, then runs the example the way the guide evidently means it (the string made a
  ``PromptTemplate``, and replies cut to 32 tokens), replayed from a cassette of the local model.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

from cassettes import FAKE_API_KEY, MODEL_BASE_URL
from tree_helpers import assert_well_formed, tree


@pytest.fixture
def guide_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's environment: the key and base URL point the OpenAI client at the recorded model, and
    ``langchain.prompts`` names the module it re-exported (see the module doc)."""
    import langchain_core.prompts

    monkeypatch.setenv("OPENAI_API_KEY", FAKE_API_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", MODEL_BASE_URL)
    monkeypatch.setitem(sys.modules, "langchain.prompts", langchain_core.prompts)


PROMPT_TEMPLATE = (
    "Imagine that you are {person}, and you are embodying their manner of answering questions posed to them. "
    "While answering, attempt to mirror their conversational style, their wit, and the habits of their speech "
    "and prose. You will emulate them as best that you can, attempting to distill their quirks, personality, "
    "and habits of engagement to the best of your ability. Feel free to fully embrace their personality, whether "
    "aspects of it are not guaranteed to be productive or entirely constructive or inoffensive."
    "The question you are asked, to which you will reply as that person, is: {question}"
)


def test_guide_enable() -> None:
    import spanlog

    spanlog.langchain.autolog()

    assert spanlog.langchain.state == "active"


def test_guide_example_as_written(guide_env: None, traces: Any, caplog: pytest.LogCaptureFixture) -> None:
    import os

    from langchain.prompts import PromptTemplate  # noqa: F401  (imported, never used, by the guide)
    from langchain_openai import OpenAI

    import spanlog

    assert "OPENAI_API_KEY" in os.environ, "Please set your OPENAI_API_KEY environment variable."

    spanlog.set_experiment("LangChain Tracing")

    spanlog.langchain.autolog(log_models=True, log_input_examples=True)

    llm = OpenAI(temperature=0.7, max_tokens=1000)

    prompt_template = PROMPT_TEMPLATE

    with pytest.raises(TypeError, match="Expected a Runnable, callable or dict"):
        chain = prompt_template | llm  # noqa: F841  (the guide's line: a str is not a runnable)

    assert traces.get_traces() == []
    assert spanlog.langchain.state == "active"


def test_guide_example_with_prompt_template(guide_env: None, cassette: Any, traces: Any) -> None:
    from langchain.prompts import PromptTemplate
    from langchain_openai import OpenAI

    import spanlog

    spanlog.set_experiment("LangChain Tracing")
    spanlog.langchain.autolog(log_models=True, log_input_examples=True)

    # the guide's settings, but 32 tokens instead of 1000: the tiny local model would ramble for minutes
    llm = OpenAI(temperature=0.7, max_tokens=32, max_retries=0)

    prompt_template = PROMPT_TEMPLATE

    chain = PromptTemplate.from_template(prompt_template) | llm

    # Test the chain
    chain.invoke(
        {
            "person": "Richard Feynman",
            "question": "Why should we colonize Mars instead of Venus?",
        }
    )

    # Let's test another call
    chain.invoke(
        {
            "person": "Linus Torvalds",
            "question": "Can I just set everyone's access to sudo to make things easier?",
        }
    )

    exported = traces.get_traces()
    assert len(exported) == 2
    experiment_id = spanlog.set_experiment("LangChain Tracing").experiment_id
    for trace, person in zip(exported, ("Richard Feynman", "Linus Torvalds")):
        assert tree(trace) == "RunnableSequence [CHAIN] OK\n  PromptTemplate [CHAIN] OK\n  OpenAI [LLM] OK"
        assert_well_formed(trace)
        assert trace.info.experiment_id == experiment_id
        root, prompt, completion = trace.data.spans
        assert root.inputs["person"] == person
        assert person in prompt.outputs
        assert completion.inputs == prompt.outputs
        assert completion.outputs == root.outputs
        assert completion.get_attribute("spanlog.llm.provider") == "local"
        usage = completion.get_attribute("spanlog.chat.tokenUsage")
        assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
        assert trace.info.token_usage == usage
