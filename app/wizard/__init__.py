"""Site adaptation wizard (issue 7): scan a site's photos, adapt MAGE-Net, check it, save it."""

from app.wizard.wizard import AdaptWizard, open_adapt_wizard

__all__ = ["AdaptWizard", "open_adapt_wizard"]
