"""A tiny lesson file for the tests: digits 0-4 at 32 px, only the freeze depth free, the board over it."""


def tiny_lesson(title: str = "Tiny", question: str = "Which is first?", epochs: int = 1,
                instructions: str = "Change the freeze depth.", extra: str = "") -> str:
    return f'''
title = "{title}"
question = "{question}"
instructions = "{instructions}"
{extra}
[fixed]
dataset = "digits:0-4"
train_per_class = 3
image_size = 32
epochs = {epochs}
[free]
freeze_depth = [0, 6]
[board]
over = ["freeze_depth"]
'''
