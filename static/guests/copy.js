// Copy a field's text to the clipboard; where the browser refuses (no clipboard API, an
// insecure origin), select the text and say how to copy it by hand.
document.addEventListener("click", (event) => {
  const button = event.target.closest(".copy-button");
  if (!button) return;
  const field = document.getElementById(button.dataset.copyTarget);
  const status = button.parentElement.querySelector(".copy-status");
  const byHand = () => {
    field.focus();
    field.select();
    status.textContent = "Selected: press Ctrl+C (⌘C on a Mac) to copy.";
  };
  if (!navigator.clipboard || !window.isSecureContext) {
    byHand();
    return;
  }
  navigator.clipboard.writeText(field.value).then(
    () => { status.textContent = "Copied."; },
    byHand,
  );
});
