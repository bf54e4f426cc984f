"""The catalog of topics: the one place every command reads a topic's facts from.

A topic named `T` has its stub in `exercises/T.py`, its reference in `solutions/T.py`, its suite in
`tests/T/` (`test_public.py`, `test_hidden.py`, `mistakes.py`, `hints.md`) and, if the stub's
docstring is not enough, `docs/T.md`.

`forbidden` lists dotted names the learner's module may not use (a module, class or function; a
module covers everything in it). The guard checks the source statically and traps the calls at run
time (see grader/guard.py). `points` is the topic's weight in the grade: a topic scores
points * (points of passed tests) / (points of all its tests), tests weighing 1 unless marked
`@pytest.mark.points(n)` (see grader/scoring.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    name: str
    title: str
    order: int
    description: str
    points: int
    forbidden: tuple[str, ...] = ()
    prerequisites: tuple[str, ...] = ()
    # Why each forbidden name is forbidden, shown to the learner with the sentence that names it.
    forbidden_reason: str = ""
    # Whether the learner's functions draw from torch's global generator (grading mode then sends
    # the test's global random state with each call and takes back the state the call left).
    global_rng: bool = False


# Autograd by every door but the torch.autograd module itself (which conv names function by
# function): the functional API, .backward(), switching gradients on (by method, keyword or
# assignment), and calling the recorded backward functions directly through .grad_fn.
NO_AUTOGRAD = (
    "torch.func",
    ".backward",
    "torch.Tensor.backward",
    ".requires_grad_",
    "torch.Tensor.requires_grad_",
    "requires_grad=",
    ".requires_grad",
    ".grad_fn",
)

TOPICS: tuple[Topic, ...] = (
    Topic(
        name="micrograd",
        title="A scalar autograd engine (micrograd) and a small network trained with it",
        order=1,
        description="A Value class with every arithmetic operator (reflected ones included), tanh, "
        "relu, sigmoid, exp and log, and a backward() that visits the graph in reverse "
        "topological order without recursion; then Neuron, Layer, MLP, mse and sgd_step, "
        "trained on two moons. Checked against PyTorch autograd in float64 and "
        "hand-worked graphs.",
        points=10,
        # Whole libraries: the static check refuses any import of them (grader/guard.py's
        # install_traps explains why they get no run-time traps).
        forbidden=("torch", "numpy", "jax", "autograd"),
        forbidden_reason="the point of this topic is to write the engine yourself, in plain Python "
        "(the math and random modules are fine)",
    ),
    Topic(
        name="adam",
        title="The Adam optimizer (and AdamW)",
        order=2,
        description="One Adam update by hand, then an optimizer class that keeps its own state; "
        "L2 and decoupled (AdamW) weight decay; checked against torch.optim.Adam.",
        points=10,
        forbidden=("torch.optim", "torch._fused_adam_", "torch._fused_adamw_"),
        forbidden_reason="the point of this topic is to write the update yourself",
    ),
    Topic(
        name="backprop",
        title="Manual backward pass of a feed-forward network",
        order=3,
        description="Backward passes of linear, ReLU, tanh and sigmoid layers, MSE and "
        "cross-entropy losses, then the gradients of a whole network by hand; "
        "checked against PyTorch autograd and central differences.",
        points=10,
        forbidden=("torch.autograd", *NO_AUTOGRAD),
        forbidden_reason="the point of this topic is to apply the chain rule yourself, without autograd",
    ),
    Topic(
        name="bpe",
        title="Byte-pair encoding: pair counts, merges, training, encode/decode, a fast trainer",
        order=7,
        description="Byte-level BPE as GPT-2 does it: count pairs, merge without overlap, train with "
        "a split pattern and the smallest-pair tie rule, encode in creation order with "
        "special tokens, decode; then an incremental trainer. Checked against the "
        "tokenizers BPE trainer and hand-worked cases.",
        points=10,
        forbidden=("tokenizers", "tiktoken", "sentencepiece", "transformers"),
        forbidden_reason="the point of this topic is to write the tokenizer yourself (the standard "
        "library and regex are allowed)",
    ),
    Topic(
        name="rnn",
        title="Recurrent networks: RNN step, backpropagation through time, LSTM and GRU cells",
        order=6,
        description="One topic for the whole issue: rnn_step, rnn_forward, rnn_backward (BPTT by "
        "hand), lstm_step and gru_step, in the weight conventions of nn.RNNCell, "
        "nn.LSTMCell and nn.GRUCell; checked against those cells (stepped along whole "
        "sequences for LSTM and GRU), nn.RNN, autograd and central differences. `make demo "
        "topic=rnn` trains your RNN on a short text.",
        points=10,
        forbidden=(
            "torch.nn.RNN",
            "torch.nn.RNNCell",
            "torch.nn.LSTM",
            "torch.nn.LSTMCell",
            "torch.nn.GRU",
            "torch.nn.GRUCell",
            "torch.nn.modules.rnn",
            "torch._VF",
            "torch.rnn_tanh_cell",
            "torch.rnn_relu_cell",
            "torch.lstm_cell",
            "torch.gru_cell",
            "torch.rnn_tanh",
            "torch.rnn_relu",
            "torch.lstm",
            "torch.gru",
            "torch._C._VariableFunctions",
            "torch.ops.aten",
            "torch.autograd",
            *NO_AUTOGRAD,
        ),
        prerequisites=("backprop",),
        forbidden_reason="the point of this topic is to write the cells and backpropagation "
        "through time yourself (no PyTorch RNN modules or kernels, no autograd: "
        "nothing in this file needs it)",
    ),
    Topic(
        name="dola",
        title="DoLa: decoding by contrasting layers",
        order=15,
        description="Jensen-Shannon selection of the premature layer, the contrast of log-probabilities "
        "under the adaptive plausibility constraint, a CTRL repetition penalty, and greedy "
        "DoLa decoding of a provided tiny language model (provided/tiny_lm.py).",
        points=10,
        forbidden=("transformers", "dola_layers=", "._dola_decoding"),
        prerequisites=("attention",),
        forbidden_reason="the point of this topic is to write DoLa yourself, not to call a "
        "ready-made implementation (Hugging Face transformers has one)",
    ),
    Topic(
        name="conv",
        title="Convolution and pooling: conv2d, max and average pooling, forward and backward",
        order=14,
        description="conv2d with stride, padding, dilation and groups by im2col, its backward pass "
        "by hand, max and average pooling and their gradients; checked against "
        "torch.nn.functional, autograd and central differences.",
        points=10,
        forbidden=(
            "torch.nn.functional.conv2d",
            "torch.nn.functional.conv_transpose2d",
            "torch.nn.Conv2d",
            "torch.nn.functional.max_pool2d",
            "torch.nn.functional.max_pool2d_with_indices",
            "torch.nn.functional._max_pool2d",
            "torch.nn.functional.avg_pool2d",
            "torch.nn.MaxPool2d",
            "torch.nn.AvgPool2d",
            "torch.nn.functional.unfold",
            "torch.nn.functional.fold",
            "torch.nn.Unfold",
            "torch.nn.Fold",
            "torch.nn.grad",
            "torch.conv2d",
            "torch.conv_transpose2d",
            "torch.convolution",
            "torch._convolution",
            "torch.mkldnn_convolution",
            "torch.max_pool2d",
            "torch._C._nn.avg_pool2d",
            "torch._C._nn.max_pool2d_with_indices",
            "torch._C._nn.im2col",
            "torch._C._nn.col2im",
            # Autograd, named function by function: forbidding the whole torch.autograd
            # module would also trap torch.no_grad and forward_ad.unpack_dual, which torch
            # itself calls to print a tensor (a learner's print would fail as forbidden).
            "torch.autograd.grad",
            "torch.autograd.backward",
            "torch.autograd.Function",
            "torch.autograd.function",
            "torch.autograd.functional",
            "torch.autograd.gradcheck",
            *NO_AUTOGRAD,
            # the same kernels in other dimensions or wrappers (a conv2d is a conv3d of
            # depth 1; an adaptive pool is a pool)
            "torch.conv1d",
            "torch.conv3d",
            "torch.conv_tbc",
            "torch.conv_transpose1d",
            "torch.conv_transpose3d",
            "torch.cudnn_convolution",
            "torch.miopen_convolution",
            "torch.nn.functional.conv1d",
            "torch.nn.functional.conv3d",
            "torch.nn.functional.conv_transpose1d",
            "torch.nn.functional.conv_transpose3d",
            "torch.nn.modules.conv",
            "torch.nn.modules.pooling",
            "torch.nn.modules.fold",
            "torch.max_pool1d",
            "torch.max_pool3d",
            "torch.avg_pool1d",
            "torch.mkldnn_max_pool2d",
            "torch.quantized_max_pool2d",
            "torch.max_pool1d_with_indices",
            "torch.adaptive_avg_pool1d",
            "torch.adaptive_max_pool1d",
            "torch.mkldnn_adaptive_avg_pool2d",
            "torch.nn.functional.max_pool1d",
            "torch.nn.functional.max_pool3d",
            "torch.nn.functional.avg_pool1d",
            "torch.nn.functional.avg_pool3d",
            "torch.nn.functional.adaptive_avg_pool2d",
            "torch.nn.functional.adaptive_max_pool2d",
            "torch.nn.functional.lp_pool2d",
            "torch.nn.functional.fractional_max_pool2d",
        ),
        prerequisites=("backprop",),
        forbidden_reason="the point of this topic is to write convolution, pooling and their "
        "gradients yourself (no autograd either)",
    ),
    Topic(
        name="attention",
        title="Attention: softmax, scaled dot-product attention, multi-head attention, KV cache",
        order=9,
        description="A stable softmax, scaled dot-product attention with boolean, float and causal "
        "masks, multi-head attention with nn.MultiheadAttention's parameters, and "
        "decoding step by step with a key/value cache; checked against "
        "F.scaled_dot_product_attention, nn.MultiheadAttention and their gradients.",
        points=10,
        forbidden=(
            "torch.nn.functional.scaled_dot_product_attention",
            "torch.nn.MultiheadAttention",
            "torch.nn.functional.multi_head_attention_forward",
            "torch.softmax",
            "torch.nn.functional.softmax",
            "torch.nn.functional.log_softmax",
            "torch.log_softmax",
            "torch.special.softmax",
            "torch.special.log_softmax",
            ".softmax",
            ".log_softmax",
            "torch.Tensor.softmax",
            "torch.Tensor.log_softmax",
            # softmax behind other names (softmin(x) is softmax(-x))
            "torch.nn.functional.softmin",
            "torch.nn.Softmax",
            "torch.nn.Softmin",
            "torch.nn.LogSoftmax",
            "torch.nn.Softmax2d",
            "torch.nn.modules.activation.MultiheadAttention",
            "torch.nn.functional.gumbel_softmax",
        ),
        forbidden_reason="the point of this topic is to write softmax and attention yourself "
        "(your own `softmax` function is what the others should call)",
    ),
    Topic(
        name="autograd",
        title="A tensor autograd engine: broadcasting, reductions, matmul, indexing, log-softmax",
        order=4,
        description="A Tensor wrapping a torch.Tensor with broadcasting operators (reflected ones and @ "
        "included), sum, mean, max, reshape, transpose, exp, log, relu, tanh, sigmoid, "
        "log_softmax and indexing, each with its backward, a backward() in reverse topological "
        "order that accumulates into leaves, and cross_entropy; checked against PyTorch autograd "
        "in float64 and float32, central differences, and 50 steps of training.",
        points=10,
        # torch's autograd by every door that yields a gradient: the torch.autograd module (trapped at
        # run time, torch's own printing excepted), Tensor.backward on torch tensors (trapped), the
        # functional API, the recorded graph (.grad_fn) and requires_grad_(). Not listed, on purpose:
        # ".backward", ".requires_grad" and "requires_grad=", which are also the learner's own API
        # (`loss.backward()`, `self.requires_grad = ...`, `Tensor(x, requires_grad=True)`). A torch
        # tensor made with requires_grad=True is therefore not refused, but it yields nothing without
        # the doors above (docs/autograd.md, "What is forbidden").
        forbidden=(
            "torch.autograd",
            "torch.Tensor.backward",
            "torch.func",
            "torch.nn",
            ".grad_fn",
            ".requires_grad_",
            "torch.Tensor.requires_grad_",
        ),
        prerequisites=("micrograd", "backprop"),
        forbidden_reason="the point of this topic is to write the autograd engine yourself: torch is only "
        "the array library (no torch.autograd, no .backward() or requires_grad_() on torch tensors, no "
        "torch.func, no torch.nn)",
    ),
    Topic(
        name="training",
        title="The training loop's parts: initialisation, mini-batches, SGD with momentum, schedules, clipping, fit",
        order=5,
        description="kaiming_uniform and xavier_uniform drawing torch.nn.init's numbers, DataLoader's "
        "batches (its random draws included), one torch.optim.SGD update (momentum, dampening, Nesterov, "
        "maximize, weight decay), StepLR, cosine and warm-up-cosine learning rates, clip_grad_norm_, and a "
        "fit loop training a ReLU network with them; checked against torch.nn.init, DataLoader, "
        "torch.optim.SGD over 200 steps, lr_scheduler, clip_grad_norm_ and the same loop built from "
        "torch's own parts.",
        points=10,
        # Modules cover everything in them (lr_scheduler is part of torch.optim); clip_grad is named as a
        # module too, since clip_grad_norm_ is reachable as torch.nn.utils.clip_grad.clip_grad_norm_, and
        # the public halves of clip_grad_norm_ (get_total_norm, clip_grads_with_norm_) by name.
        # torch.utils.data is named part by part (its loader, samplers, datasets and the datapipes'
        # shuffler), not as a whole: its datapipes subtree has a module-level __getattr__, which the
        # run-time traps once wrapped (they now leave dunder names alone); the explicit list stays,
        # since it says exactly what the topic's tests were proven against (docs/training.md).
        forbidden=(
            "torch.optim",
            "torch.nn.init",
            "torch.utils.data.DataLoader",
            "torch.utils.data.dataloader",
            "torch.utils.data.sampler",
            "torch.utils.data.Sampler",
            "torch.utils.data.RandomSampler",
            "torch.utils.data.SequentialSampler",
            "torch.utils.data.BatchSampler",
            "torch.utils.data.SubsetRandomSampler",
            "torch.utils.data.WeightedRandomSampler",
            "torch.utils.data.dataset",
            "torch.utils.data.random_split",
            "torch.utils.data.TensorDataset",
            "torch.utils.data.datapipes.iter.combinatorics",
            "torch.nn.utils.clip_grad",
            "torch.nn.utils.clip_grad_norm_",
            "torch.nn.utils.clip_grad_norm",
            "torch.nn.utils.clip_grad_value_",
            "torch.nn.utils.get_total_norm",
            "torch.nn.utils.clip_grads_with_norm_",
        ),
        prerequisites=("adam", "backprop"),
        global_rng=True,
        forbidden_reason="the point of this topic is to write the parts of the training loop yourself "
        "(autograd is allowed: it gives the gradients; torch's optimizers, schedulers, initialisers, "
        "data loaders and clipping are not)",
    ),
    Topic(
        name="transformer",
        title="Transformer blocks: LayerNorm and its backward, RMSNorm, positions, encoder and decoder layers",
        order=11,
        description="layer_norm and its backward pass by hand, rms_norm, sinusoidal positions and RoPE, "
        "the encoder and decoder layers (post-norm and pre-norm, relu and gelu) and the whole "
        "encoder-decoder, with PyTorch's state_dict names; checked against nn.LayerNorm, nn.RMSNorm, "
        "nn.TransformerEncoderLayer, nn.TransformerDecoderLayer and nn.Transformer (outputs and input "
        "gradients), autograd, central differences and a complex-number RoPE.",
        points=10,
        forbidden=(
            "torch.nn.MultiheadAttention",
            "torch.nn.modules.activation.MultiheadAttention",
            "torch.nn.functional.multi_head_attention_forward",
            "torch.nn.Transformer",
            "torch.nn.TransformerEncoder",
            "torch.nn.TransformerEncoderLayer",
            "torch.nn.TransformerDecoder",
            "torch.nn.TransformerDecoderLayer",
            "torch.nn.modules.transformer",
            "torch.nn.functional.layer_norm",
            "torch.layer_norm",
            "torch.native_layer_norm",
            "torch.nn.LayerNorm",
            "torch.nn.functional.rms_norm",
            "torch.rms_norm",
            "torch.nn.RMSNorm",
            "torch.nn.modules.normalization",
            "torch.autograd",
            *NO_AUTOGRAD,
        ),
        prerequisites=("attention",),
        forbidden_reason="the point of this topic is to write the norms, the positions and the layers "
        "yourself (F.scaled_dot_product_attention is allowed; no torch attention or transformer modules, "
        "no built-in LayerNorm or RMSNorm, no autograd: layer_norm_backward is by hand)",
    ),
    Topic(
        name="lora",
        title="LoRA: low-rank adapters, their backward pass, merging, and fine-tuning with a frozen base",
        order=13,
        description="lora_forward (x W^T + b + s (x A^T) B^T, s = alpha / r or alpha / sqrt(r) for rsLoRA) "
        "and lora_backward by hand, a LoRALinear layer with a frozen copy of the base, peft's default "
        "initialisation, merge() and unmerge(), and fine_tune training only A and B with your own "
        "gradients and torch.optim.Adam; checked against peft's LoRA Linear (outputs, merge_and_unload, "
        "trainable parameter count, initial A), autograd, central differences and the same training loop "
        "driven by autograd.",
        points=10,
        # Autograd named door by door, as conv does, not the whole torch.autograd module: fine_tune calls
        # torch.optim.Adam (allowed here), whose step runs inside torch.autograd.profiler.record_function,
        # and the run-time traps would stop it there. Nor the module torch.autograd.function: its
        # FunctionMeta builds each autograd.Function subclass torch._dynamo defines when the first
        # optimizer imports it (inside fine_tune, in grading mode). requires_grad= and requires_grad_()
        # stay allowed: LoRALinear's A and B are made with requires_grad=True, as the issue asks (they
        # yield no gradient without the doors listed here).
        forbidden=(
            "peft",
            "torch.autograd.grad",
            "torch.autograd.backward",
            "torch.autograd.Function",
            "torch.autograd.functional",
            "torch.autograd.gradcheck",
            "torch.autograd.forward_ad",
            ".backward",
            "torch.Tensor.backward",
            "torch.func",
            ".grad_fn",
        ),
        prerequisites=("backprop", "adam"),
        forbidden_reason="the point of this topic is to write the adapter and its gradients yourself: no "
        "peft, no autograd (no .backward(), torch.autograd or torch.func); torch.optim.Adam is allowed in "
        "fine_tune, fed with the gradients of your own lora_backward",
    ),
    Topic(
        name="gnn",
        title="Graph neural networks: message passing, GCN, GraphSAGE and GAT layers",
        order=10,
        description="scatter_sum, scatter_mean and a per-node scatter_softmax, PyG's gcn_norm (self-loops, "
        "symmetric normalisation), and the GCNConv, SAGEConv (mean) and GATConv (heads, concat or mean) "
        "layers on PyG's edge_index graphs; checked against torch_geometric (outputs and input "
        "gradients, golden data in the public suite), plain-torch scatters and hand-worked graphs.",
        points=10,
        forbidden=("torch_geometric", "torch_scatter", "torch_sparse"),
        prerequisites=("attention",),
        forbidden_reason="the point of this topic is to write message passing and the layers yourself "
        "(index_add, scatter_reduce and bincount are allowed; PyG and its scatter and sparse libraries are not)",
    ),
    Topic(
        name="unigram",
        title="SentencePiece's unigram tokenizer: Viterbi segmentation, forward-backward, EM and pruning",
        order=8,
        description="normalize as SentencePiece's identity normaliser, viterbi over the lattice of pieces "
        "(unknown characters, SentencePiece's tie rule), forward_backward in log space, an EM step, "
        "pruning by likelihood loss (Kudo 2018) and the whole trainer; checked against sentencepiece "
        "(its normaliser, the encode of unigram models it trains), brute force over every segmentation "
        "of short texts, and SentencePiece's own model of the same size.",
        points=10,
        forbidden=("sentencepiece", "tokenizers", "transformers"),
        prerequisites=("bpe",),
        forbidden_reason="the point of this topic is to write the unigram tokenizer and its trainer yourself "
        "(the standard library is enough; the tests use sentencepiece as the reference)",
    ),
    Topic(
        name="linear",
        title="Before deep learning: least squares, gradient descent, the perceptron and logistic regression",
        order=0,
        description="Least squares by the normal equations (ridge, rank checks), linear regression by "
        "gradient descent, Rosenblatt's perceptron, and logistic regression with a stable log-loss, "
        "gradients by hand; checked against numpy.linalg.lstsq, the ridge closed form, torch.optim.SGD "
        "with autograd, SciPy's optimum of the logistic loss, Novikoff's bound and hand-worked cases.",
        points=10,
        forbidden=("torch.autograd", ".backward", "torch.optim", "torch.linalg.lstsq", "sklearn"),
        forbidden_reason="the point of this topic is to solve and train these models yourself: gradients "
        "by hand (no autograd, no .backward()), your own update steps (no torch.optim), your own "
        "normal equations (no torch.linalg.lstsq) and no scikit-learn",
    ),
    Topic(
        name="gpt",
        title="GPT-2 from scratch: Hugging Face's weights, a KV cache, sampling filters, training on real text",
        order=12,
        description="gpt2_forward on the state_dict of Hugging Face's GPT2LMHeadModel (Conv1D weights, "
        "tanh GELU, pre-norm blocks, tied output layer) with a key/value cache, greedy generation with "
        "that cache, next_token_probs (temperature, top-k with ties, top-p) and the shifted "
        "language-modelling loss; checked against GPT2LMHeadModel (logits, past_key_values, generate) and "
        "its logits warpers. `make demo topic=gpt` trains your GPT on the standard library's docstrings.",
        points=10,
        forbidden=(
            "transformers",
            "torch.nn.MultiheadAttention",
            "torch.nn.modules.activation.MultiheadAttention",
            "torch.nn.functional.multi_head_attention_forward",
            "torch.nn.Transformer",
            "torch.nn.TransformerEncoder",
            "torch.nn.TransformerEncoderLayer",
            "torch.nn.TransformerDecoder",
            "torch.nn.TransformerDecoderLayer",
            "torch.nn.modules.transformer",
        ),
        prerequisites=("transformer",),
        forbidden_reason="the point of this topic is to write GPT-2 yourself, not to run Hugging Face's "
        "(F.scaled_dot_product_attention, F.layer_norm and F.gelu are allowed: earlier topics are where "
        "they are written by hand; no torch attention or transformer modules)",
    ),
    # new topics go above this line (one Topic(...) entry each, in any order; `order` sorts them)
)


def names() -> list[str]:
    return [t.name for t in sorted(TOPICS, key=lambda t: t.order)]


def get(name: str) -> Topic:
    for topic in TOPICS:
        if topic.name == name:
            return topic
    raise KeyError(name)


def ordered() -> list[Topic]:
    return sorted(TOPICS, key=lambda t: t.order)
