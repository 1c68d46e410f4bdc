"""Dialogs: shortcuts, about (model card, disclaimer, credits), export."""
