"""A compact Vision Transformer (16x16 patches) sized for ~800 training slices at 128 px.

Keras has no ViT application. This one is deliberately small (6 blocks, width 128, 4 heads,
about 0.9 M parameters): a ViT-B/16 has 86 M parameters and would not train on this data or CPU.
There is no class token; the head averages the patch tokens, which are first reshaped into a
(h, w, d) grid by the ``token_grid`` layer. That layer is what Grad-CAM targets (with
``seek_penultimate_conv_layer=False``), so CAMs of the ViT are spatial maps like those of CNNs.
"""
from __future__ import annotations

import keras
from keras import layers, ops

from liver_model.architectures.keras_apps import image_input, liver_head
from liver_model.architectures.tumour_map_head import tumour_map_head

#: The (h, w, d) reshape of the patch tokens: 8x8x128 at 128 px input.
CAM_LAYER = "token_grid"
PATCH_SIZE = 16
WIDTH = 128
DEPTH = 6
HEADS = 4
MLP_WIDTH = 256


@keras.saving.register_keras_serializable(package="liver_model")
class PositionEmbedding(layers.Layer):
    """Adds a learned embedding per token position to a (batch, tokens, width) sequence."""

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.embedding = self.add_weight(
            name="embedding", shape=(1, input_shape[1], input_shape[2]),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02), trainable=True)

    def call(self, tokens: keras.KerasTensor) -> keras.KerasTensor:
        return tokens + ops.cast(self.embedding, tokens.dtype)


def _encoder_block(x: keras.KerasTensor, index: int, dropout: float) -> keras.KerasTensor:
    """Pre-norm transformer block: x + MHSA(LN(x)); x + MLP(LN(x))."""
    prefix = f"encoder{index}_"
    y = layers.LayerNormalization(epsilon=1e-6, name=prefix + "ln1")(x)
    y = layers.MultiHeadAttention(HEADS, WIDTH // HEADS, dropout=dropout, name=prefix + "mhsa")(y, y)
    x = layers.Add(name=prefix + "add1")([x, y])
    y = layers.LayerNormalization(epsilon=1e-6, name=prefix + "ln2")(x)
    y = layers.Dense(MLP_WIDTH, activation="gelu", name=prefix + "mlp1")(y)
    y = layers.Dropout(dropout, name=prefix + "mlp_dropout")(y)
    y = layers.Dense(WIDTH, name=prefix + "mlp2")(y)
    return layers.Add(name=prefix + "add2")([x, y])


def _token_grid(inputs: keras.KerasTensor, attention_dropout: float) -> keras.KerasTensor:
    """Patch embedding, position embedding, the encoder blocks and the (h, w, d) token grid."""
    grid = int(inputs.shape[1]) // PATCH_SIZE
    x = layers.Rescaling(scale=1.0 / 127.5, offset=-1.0, name="normalisation")(inputs)
    x = layers.Conv2D(WIDTH, PATCH_SIZE, strides=PATCH_SIZE, name="patch_embed")(x)
    x = layers.Reshape((grid * grid, WIDTH), name="patch_tokens")(x)
    x = PositionEmbedding(name="position_embedding")(x)
    for index in range(DEPTH):
        x = _encoder_block(x, index, attention_dropout)
    x = layers.LayerNormalization(epsilon=1e-6, name="encoder_norm")(x)
    return layers.Reshape((grid, grid, WIDTH), name=CAM_LAYER)(x)


def _image_input(input_size: int) -> keras.KerasTensor:
    """The shared model input, refusing sides that do not split into whole patches."""
    if input_size % PATCH_SIZE:
        raise ValueError(f"ViT input size must be a multiple of {PATCH_SIZE}, got {input_size}")
    return image_input(input_size)


def build_vit(input_size: int, *, dropout: float = 0.2, attention_dropout: float = 0.1) -> keras.Model:
    """ViT with 16x16 patches and the liver head; ``input_size`` must be a multiple of 16."""
    inputs = _image_input(input_size)
    grid_map = _token_grid(inputs, attention_dropout)
    return keras.Model(inputs, liver_head(grid_map, dropout), name="vit")


def build_vit_tumour_map(input_size: int, *, attention_dropout: float = 0.1) -> keras.Model:
    """The same ViT whose p(tumour) is pooled from a tumour map on its token grid (1/16 side).

    The head (:func:`liver_model.architectures.tumour_map_head.tumour_map_head`) gets the token
    grid as its only pyramid level: a ViT has no finer maps to merge.
    """
    inputs = _image_input(input_size)
    grid_map = _token_grid(inputs, attention_dropout)
    return keras.Model(inputs, tumour_map_head([grid_map]), name="vit_tumour_map")
