"""The "Try it" widgets of the chapters, one module per chapter: each pairs a pure compute function
(tested directly) with a builder made by :func:`mtlbook.widgets.explorer`."""
