// The front desk's code buttons. A code is masked until revealed; every reveal and every
// copy is recorded on the server (with who did it), and a copy marks the code sent to the
// guest only once the browser confirms it reached the clipboard.
(() => {
  const csrf = () => {
    const field = document.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  };

  const post = async (url, data = {}) => {
    const body = new URLSearchParams(data);
    const response = await fetch(url, {
      method: "POST",
      headers: { "X-CSRFToken": csrf() },
      body,
      credentials: "same-origin",
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(answer.error || `The server answered ${response.status}.`);
    return answer;
  };

  const say = (stay, text, bad = false) => {
    const status = stay.querySelector(".ks-status");
    status.textContent = text;
    status.classList.toggle("ks-bad", bad);
  };

  // The clipboard, where the browser allows it; else the text selected to copy by hand.
  const toClipboard = async (text) => {
    if (!navigator.clipboard || !window.isSecureContext) return false;
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (error) {
      return false;
    }
  };

  const showCodes = (stay, answer) => {
    stay.querySelector(".ks-code-value").textContent = answer.code;
    const list = stay.querySelector(".ks-door-codes");
    list.replaceChildren();
    for (const door of answer.doors) {
      const item = document.createElement("li");
      item.dataset.access = door.access;
      item.textContent = `${door.name}: ${door.code || "not picked yet"}${door.own_code ? " (this door's own code)" : ""}`;
      list.append(item);
    }
    list.hidden = answer.doors.length === 0;
  };

  // Each stay's buttons: the page's base (data-stay-urls), the stay's id, the action.
  const urlOf = (stay, action) => {
    const base = stay.closest("[data-stay-urls]").dataset.stayUrls;
    return `${base}${stay.dataset.stay}/${action}/`;
  };

  const reveal = async (stay) => {
    const answer = await post(urlOf(stay, "reveal"));
    showCodes(stay, answer);
    return answer;
  };

  document.addEventListener("click", async (event) => {
    const button = event.target.closest(".ks-reveal, .ks-copy, .ks-copy-link");
    if (!button) return;
    const stay = button.closest(".ks-stay");
    try {
      if (button.classList.contains("ks-reveal")) {
        await reveal(stay);
        say(stay, "Revealed (recorded).");
      } else if (button.classList.contains("ks-copy")) {
        const answer = await reveal(stay);
        if (await toClipboard(answer.code)) {
          const copied = await post(urlOf(stay, "copied"));
          say(stay, copied.marked_sent ? "Code copied; marked as sent to the guest." : "Code copied.");
        } else {
          say(stay, "Copy refused by the browser: select the code and copy it by hand.", true);
        }
      } else {
        const answer = await post(urlOf(stay, "link"));
        if (await toClipboard(answer.url)) {
          await post(urlOf(stay, "link-copied"));
          say(stay, "Guest link copied; marked as sent to the guest.");
        } else {
          say(stay, `Copy this link by hand: ${answer.url}`, true);
        }
      }
    } catch (error) {
      say(stay, error.message, true);
    }
  });
})();
