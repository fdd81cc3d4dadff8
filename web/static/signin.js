/* signin.js: a person's sign-in, shared by the consoles (the staff and admin pages).
 *
 * The page includes templates/_signin.html inside its <main>, loads signin.css and this file
 * after vq.js, and calls:
 *
 *   VQ.signin.require(onSignedIn, {onSignedOut})
 *     signed in already: sets VQ.credential and calls onSignedIn(session) at once;
 *     else shows the form and calls onSignedIn(session) once the person has signed in.
 *     When the session ends (signed out here or in another tab, or its refresh was refused) the
 *     form comes back with a message, onSignedOut() is called, and onSignedIn again after the
 *     next sign-in: a page builds itself in onSignedIn and tears down in onSignedOut.
 *   VQ.signin.signOutButton()   a "Sign out" button element
 *   VQ.signin.refused(problem)  true when `problem` means the session can no longer be used
 *     (401, or a second factor to enrol first): the form comes back with the reason
 *   VQ.signin.organisation()    the organisation id the form uses (?org=<uuid>, remembered)
 */
(function () {
  "use strict";

  const ORG = "vq.org";
  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

  const state = { onSignedIn: null, onSignedOut: null, signedIn: false, leaving: false,
    quiet: false, otpAsked: false, lockTimer: null };

  function $(id) { return document.getElementById(id); }

  // The organisation: from ?org=<uuid> (remembered on this device), else the one remembered.
  function organisation() {
    const given = (new URLSearchParams(location.search).get("org") || "").trim();
    if (UUID.test(given)) VQ.store.set(ORG, given.toLowerCase());
    return VQ.store.get(ORG);
  }

  function say(key, vars, tone) {
    const box = $("signin-message");
    if (!box) return;
    box.replaceChildren();
    if (key) box.append(VQ.el("p", { class: "notice " + (tone || "bad"), text: VQ.t(key, vars) }));
  }

  function showOrganisation(known) {
    $("signin-org-field").hidden = Boolean(known);
    $("signin-org-known").hidden = !known;
    if (known) $("signin-org").value = known;
  }

  function showForm(messageKey, tone) {
    const section = $("signin");
    if (!section) return;
    section.hidden = false;
    const known = organisation();
    showOrganisation(known);
    $("signin-password").value = "";
    $("signin-otp").value = "";
    $("signin-otp-field").hidden = true;
    state.otpAsked = false;
    say(messageKey, null, tone);
    const first = !known ? $("signin-org") : ($("signin-email").value ? $("signin-password")
      : $("signin-email"));
    first.focus();
  }

  function hideForm() {
    const section = $("signin");
    if (section) section.hidden = true;
    say(null);
  }

  function waitText(seconds) {
    return seconds >= 90 ? VQ.plural("signin.wait_minutes", Math.ceil(seconds / 60))
      : VQ.plural("signin.wait_seconds", Math.max(1, Math.round(seconds)));
  }

  function lockFor(seconds) {
    const button = $("signin-submit");
    button.disabled = true;
    clearTimeout(state.lockTimer);
    state.lockTimer = setTimeout(function () {
      state.lockTimer = null;
      button.disabled = false;
    }, seconds * 1000);
  }

  function askForCode(wrong) {
    state.otpAsked = true;
    $("signin-otp-field").hidden = false;
    $("signin-otp").value = "";
    say(wrong ? "signin.mfa_wrong" : "signin.mfa_required", null, wrong ? "bad" : "warn");
    $("signin-otp").focus();
  }

  function explain(problem) {
    if (problem.code === "invalid-credentials") {
      say("signin.invalid");
      $("signin-password").value = "";
      $("signin-password").focus();
    } else if (problem.code === "too-many-attempts" || problem.code === "rate-limited") {
      const seconds = problem.retryAfter || 60;
      say("signin.too_many", { wait: waitText(seconds) });
      lockFor(seconds);
    } else if (problem.code === "mfa-required") {
      askForCode(state.otpAsked);
    } else if (problem.code === "validation" || problem.code === "malformed-request") {
      say("signin.check_fields");
    } else if (problem.status === 0) {
      say("signin.network");
    } else {
      const box = $("signin-message");
      box.replaceChildren(VQ.el("p", { class: "notice bad", text: problem.text }));
    }
  }

  function signedIn(session) {
    VQ.credential = VQ.session.credential;
    state.signedIn = true;
    hideForm();
    if (state.onSignedIn) state.onSignedIn(session);
  }

  // The organisation asks this role for a second factor the person has not enrolled: nothing
  // but their own profile is open, and enrolling is not offered on this page yet.
  function endQuietly() {
    state.quiet = true;
    VQ.session.logout().finally(function () { state.quiet = false; });
  }

  async function submit(event) {
    event.preventDefault();
    const org = $("signin-org").value.trim();
    const email = $("signin-email").value.trim();
    const password = $("signin-password").value;
    const otp = $("signin-otp").value.replace(/\s+/g, "");
    if (!UUID.test(org)) {
      say("signin.organisation_invalid");
      showOrganisation(null);
      $("signin-org").focus();
      return;
    }
    if (!email || !password) {
      say("signin.check_fields");
      (email ? $("signin-password") : $("signin-email")).focus();
      return;
    }
    if (state.otpAsked && otp.length < 6) {
      say("signin.mfa_required", null, "warn");
      $("signin-otp").focus();
      return;
    }
    const button = $("signin-submit");
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    say("signin.working", null, "warn");
    try {
      const session = await VQ.session.login(org.toLowerCase(), email, password, otp || null);
      VQ.store.set(ORG, org.toLowerCase());
      if (session.mfa_enrolment_required) {
        endQuietly();
        say("signin.mfa_enrolment");
        return;
      }
      signedIn(session);
    } catch (problem) {
      explain(problem instanceof VQ.Problem ? problem : new VQ.Problem(0, null));
    } finally {
      button.removeAttribute("aria-busy");
      if (!state.lockTimer) button.disabled = false;
    }
  }

  function signedOut() {
    if (state.quiet) return;
    const wasIn = state.signedIn;
    if (!wasIn && !state.leaving) return; // the form is up already
    state.signedIn = false;
    VQ.credential = null;
    document.querySelectorAll(".signin-signout").forEach(function (b) { b.disabled = false; });
    if (wasIn && state.onSignedOut) state.onSignedOut();
    showForm(state.leaving ? "signin.signed_out_here" : "signin.signed_out",
      state.leaving ? "ok" : "warn");
    state.leaving = false;
  }

  function require(onSignedIn, opts) {
    state.onSignedIn = onSignedIn;
    state.onSignedOut = (opts && opts.onSignedOut) || null;
    const form = $("signin-form");
    if (form && !form.dataset.ready) {
      form.dataset.ready = "1";
      form.addEventListener("submit", submit);
      $("signin-org-change").addEventListener("click", function () {
        showOrganisation(null);
        $("signin-org").value = "";
        $("signin-org").focus();
      });
      window.addEventListener("vq:signed-out", signedOut);
    }
    const session = VQ.session.current();
    if (session && session.mfa_enrolment_required) {
      endQuietly();
      showForm("signin.mfa_enrolment");
    } else if (session) {
      signedIn(session);
    } else {
      showForm(null);
    }
  }

  function refused(problem) {
    if (!problem || !state.signedIn) return false;
    if (problem.code === "mfa-enrolment-required") {
      state.signedIn = false;
      if (state.onSignedOut) state.onSignedOut();
      endQuietly();
      showForm("signin.mfa_enrolment");
      return true;
    }
    if (problem.status === 401) {
      VQ.session.end(); // -> vq:signed-out -> the form, with its message
      return true;
    }
    return false;
  }

  function signOutButton() {
    return VQ.el("button", {
      type: "button",
      class: "secondary signin-signout",
      onclick: function (event) {
        event.currentTarget.disabled = true;
        state.leaving = true;
        // The page stops asking first: nothing it sends meets the ended session.
        if (state.signedIn) {
          state.signedIn = false;
          if (state.onSignedOut) state.onSignedOut();
        }
        VQ.session.logout();
      },
    }, VQ.t("common.sign_out"));
  }

  VQ.signin = { require: require, refused: refused, signOutButton: signOutButton,
    organisation: organisation };
})();
