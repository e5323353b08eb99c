"""Where each layer kind lives: module -> the kinds and aliases it registers.

The registry imports a layer module only when a spec names one of its kinds, so
`specc check` on a Dense-only spec does not pay for the other 38 kinds. Adding a kind:
write it in its module (with @register) and add its names here;
tests/test_layers.py::test_index_matches_registrations fails until the two agree.
"""

MODULES: dict[str, tuple[str, ...]] = {
    "activation": ("Activation", "ELU", "LeakyReLU", "PReLU"),
    "convolution": ("Conv1D", "Convolution1D", "Conv2D", "Convolution2D",
                    "Conv2DTranspose", "Deconvolution2D", "ConvTranspose2D"),
    "dense": ("Dense", "Linear", "FullyConnected"),
    "embedding": ("Embedding",),
    "identity": ("Identity",),
    "maxout": ("Maxout",),
    "merge": ("Add", "Average", "Concatenate", "Maximum", "Minimum", "Multiply", "Subtract"),
    "normalization": ("BatchNormalization", "BatchNorm", "BatchNorm1D", "BatchNorm2D"),
    "pooling": ("AvgPool1D", "AveragePooling1D", "AvgPool2D", "AveragePooling2D",
                "GlobalAvgPool", "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAveragePooling1D",
                "GlobalAveragePooling2D", "GlobalMaxPool", "GlobalMaxPool1D", "GlobalMaxPool2D",
                "GlobalMaxPooling1D", "GlobalMaxPooling2D", "MaxPool1D", "MaxPooling1D",
                "MaxPool2D", "MaxPooling2D"),
    "recurrent": ("GRU", "LSTM", "SimpleRNN", "RNN"),
    "regularization": ("AlphaDropout", "Dropout", "GaussianNoise"),
    "reshaping": ("Flatten", "Permute", "RepeatVector", "Reshape", "UpSampling2D", "ZeroPadding2D"),
    "wrappers": ("Bidirectional", "TimeDistributed"),
}

INDEX: dict[str, str] = {name: module for module, names in MODULES.items() for name in names}
