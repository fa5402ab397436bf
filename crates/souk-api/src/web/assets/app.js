// Souk's pages: the Test API panel, key reveal buttons and confirmations. Plain script,
// no dependencies; the panel's form is generated from the action description the page
// embeds (the same one the server renders the docs from).
(function () {
  "use strict";

  // Buttons with data-reveal="ID" toggle the secret in #ID between masked and shown.
  document.querySelectorAll("[data-reveal]").forEach(function (button) {
    var target = document.getElementById(button.getAttribute("data-reveal"));
    if (!target) return;
    var masked = target.textContent;
    var hideLabel = document.documentElement.lang === "ru" ? "Скрыть" : "Hide";
    var showLabel = button.textContent;
    button.addEventListener("click", function () {
      var shown = target.textContent !== masked;
      target.textContent = shown ? masked : target.getAttribute("data-secret");
      button.textContent = shown ? showLabel : hideLabel;
    });
  });

  // Forms whose button carries data-confirm ask first.
  document.querySelectorAll("button[data-confirm]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      if (!window.confirm(button.getAttribute("data-confirm"))) event.preventDefault();
    });
  });

  // Buttons with data-copy="ID" copy the text of #ID and say so for a moment.
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    var target = document.getElementById(button.getAttribute("data-copy"));
    if (!target) return;
    var label = button.textContent;
    button.addEventListener("click", function () {
      var text = target.textContent;
      var done = function () {
        button.textContent = document.documentElement.lang === "ru" ? "Скопировано" : "Copied";
        button.setAttribute("data-copied", text);
        setTimeout(function () { button.textContent = label; }, 1500);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, done);
      } else {
        var area = document.createElement("textarea");
        area.value = text;
        document.body.appendChild(area);
        area.select();
        try { document.execCommand("copy"); } catch (e) { /* the text stays selectable */ }
        document.body.removeChild(area);
        done();
      }
    });
  });

  // A page watching something in progress (#live with data-poll): asks its small JSON
  // every 3 s and reloads once the state differs from the one it was rendered with.
  var live = document.querySelector("[data-poll]");
  if (live) {
    var rendered = live.getAttribute("data-state");
    var poll = function () {
      fetch(live.getAttribute("data-poll"), { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) {
          if (body && body.state !== rendered) { window.location.reload(); return; }
          setTimeout(poll, 3000);
        }, function () { setTimeout(poll, 3000); });
    };
    setTimeout(poll, 3000);
  }

  // The desk's stock uploads (form.upload) are sent in the background so a large file
  // shows how far it got (a <progress> in the form); the answer then replaces the page
  // as the plain form's would. Without script the form posts as usual.
  document.querySelectorAll("form.upload").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.XMLHttpRequest || !window.FormData) return;
      event.preventDefault();
      var bar = form.querySelector("progress");
      if (!bar) {
        bar = document.createElement("progress");
        bar.max = 100;
        bar.value = 0;
        bar.setAttribute("aria-label", document.documentElement.lang === "ru" ? "Загрузка" : "Upload");
        form.appendChild(bar);
      }
      var button = form.querySelector("button[type=submit]");
      if (button) button.disabled = true;
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) {
          bar.value = Math.round((e.loaded / e.total) * 100);
          bar.textContent = bar.value + "%";
        }
      });
      xhr.addEventListener("load", function () {
        // Redirected to the desk with its notice: go there; a refusal: show its page.
        if (xhr.responseURL && xhr.responseURL !== form.action && xhr.status === 200) {
          window.location.assign(xhr.responseURL);
        } else {
          document.open();
          document.write(xhr.responseText);
          document.close();
        }
      });
      xhr.addEventListener("error", function () {
        if (button) button.disabled = false;
        form.submit();
      });
      xhr.send(new FormData(form));
    });
  });

  // A countdown (#time-left with data-until and the server's data-now, unix ms).
  var left = document.getElementById("time-left");
  if (left) {
    var skew = Number(left.getAttribute("data-now")) - Date.now();
    var until = Number(left.getAttribute("data-until"));
    var tick = function () {
      var s = Math.max(0, Math.floor((until - (Date.now() + skew)) / 1000));
      left.textContent = Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
      if (s > 0) setTimeout(tick, 1000);
    };
    tick();
  }

  var panel = document.getElementById("test-api");
  var described = document.getElementById("ta-actions");
  if (!panel || !described) return;

  var ui = document.documentElement.lang === "ru" ? "ru" : "en";
  var spec = JSON.parse(described.textContent);
  var endpoint = panel.getAttribute("data-endpoint");
  var actionSelect = document.getElementById("ta-action");
  var keyInput = document.getElementById("ta-key");
  var reveal = document.getElementById("ta-reveal");
  var paramsBox = document.getElementById("ta-params");
  var curlBox = document.getElementById("ta-curl");
  var sendButton = document.getElementById("ta-send");
  var meta = document.getElementById("ta-meta");
  var output = document.getElementById("ta-response");
  var langCodes = ["", "en", "zh", "es", "fr", "de", "ja", "ko", "pt", "pt-BR", "ru", "ar", "hi", "vi", "ur", "bn-BD"];

  if (panel.getAttribute("data-key")) keyInput.value = panel.getAttribute("data-key");

  function find(name) {
    for (var i = 0; i < spec.actions.length; i++) {
      if (spec.actions[i].action === name) return spec.actions[i];
    }
    return spec.actions[0];
  }

  function paramsOf(action) {
    return action.lang ? action.params.concat([spec.lang_param]) : action.params;
  }

  function field(param) {
    var id = "ta-p-" + param.name;
    var label = document.createElement("label");
    label.setAttribute("for", id);
    label.textContent = param.name + (param.required ? " *" : "");
    label.title = param.desc[ui];
    var input;
    if (param.kind === "lang" || param.kind === "choice") {
      input = document.createElement("select");
      var options = param.kind === "lang" ? langCodes : [""].concat(param.choices);
      options.forEach(function (value) {
        var option = document.createElement("option");
        option.value = value;
        option.textContent = value === "" ? "—" : value;
        input.appendChild(option);
      });
    } else {
      input = document.createElement("input");
      input.type = "text";
      input.placeholder = param.example || "";
      input.spellcheck = false;
    }
    input.id = id;
    input.name = param.name;
    input.setAttribute("data-param", param.name);
    input.addEventListener("input", update);
    input.addEventListener("change", update);
    var hint = document.createElement("small");
    hint.className = "hint";
    hint.textContent = param.desc[ui];
    var cell = document.createElement("div");
    cell.appendChild(input);
    cell.appendChild(hint);
    paramsBox.appendChild(label);
    paramsBox.appendChild(cell);
  }

  function render() {
    paramsBox.textContent = "";
    paramsOf(find(actionSelect.value)).forEach(field);
    update();
  }

  // The filled parameters, in the form's order, key and action first.
  function collect() {
    var pairs = [["key", keyInput.value.trim()], ["action", actionSelect.value]];
    paramsBox.querySelectorAll("[data-param]").forEach(function (input) {
      var value = input.value.trim();
      if (value !== "") pairs.push([input.getAttribute("data-param"), value]);
    });
    return pairs;
  }

  function masked(key) {
    if (key === "") return "YOUR_API_KEY";
    if (reveal.checked) return key;
    return key.slice(0, 4) + "••••••••";
  }

  // Quoted for a POSIX shell inside double quotes.
  function quote(text) {
    return text.replace(/[\\"$`]/g, "\\$&");
  }

  function update() {
    keyInput.type = reveal.checked ? "text" : "password";
    var lines = ['curl -X POST "' + endpoint + '"'];
    collect().forEach(function (pair) {
      var value = pair[0] === "key" ? masked(pair[1]) : pair[1];
      lines.push('  --data-urlencode "' + quote(pair[0] + "=" + value) + '"');
    });
    curlBox.textContent = lines.join(" \\\n");
  }

  function send() {
    var body = new URLSearchParams();
    collect().forEach(function (pair) { body.append(pair[0], pair[1]); });
    sendButton.disabled = true;
    meta.textContent = "…";
    output.textContent = "";
    var started = performance.now();
    fetch(endpoint.replace(/^https?:\/\/[^/]+/, ""), {
      method: "POST",
      body: body,
      credentials: "omit",
      headers: { "Accept": "application/json" }
    }).then(function (response) {
      return response.text().then(function (text) {
        var ms = Math.round(performance.now() - started);
        meta.textContent = "HTTP " + response.status + " · " + ms + " ms";
        meta.setAttribute("data-status", String(response.status));
        try {
          output.textContent = JSON.stringify(JSON.parse(text), null, 2);
        } catch (e) {
          output.textContent = text;
        }
      });
    }).catch(function (error) {
      meta.textContent = String(error);
    }).then(function () {
      sendButton.disabled = false;
    });
  }

  actionSelect.addEventListener("change", render);
  keyInput.addEventListener("input", update);
  reveal.addEventListener("change", update);
  sendButton.addEventListener("click", send);
  render();
})();
