"""Transfer Workbench: fine-tune a pre-trained CNN and train it from scratch, side by side.

A regular package (not a namespace one), so a folder that happens to be called ``workbench`` in
the current directory cannot mix its files into this one.
"""
