/* vq-session.js: VQ.session, a person's sign-in (loaded by every page, right after vq.js).
 *
 * VQ.session.login(tenantId, email, password, otp)  sign in; the tokens are kept in localStorage
 * VQ.session.current()            what is kept (null when signed out)
 * VQ.session.renew(force)         a fresh access token: one tab renews under a Web Lock, the
 *                                 others use what it got (VQ.api and VQ.follow call it on a 401)
 * VQ.session.access()             the access token, renewed shortly before it expires
 * VQ.session.credential           the session as a credential for VQ.credential / opts.credential
 * VQ.session.logout(), .end()     sign out (on the server too) / forget it here
 * A sign-out, here or in another tab (the storage event), fires "vq:signed-out" on window.
 */
(function () {
  "use strict";

  const VQ = window.VQ;
  const store = VQ.store;
  const Problem = VQ.Problem;

  const SESSION = "vq.session";
  const EARLY_MS = 60000; // renew an access token this long before it expires

  function withLock(name, work) {
    return navigator.locks ? navigator.locks.request(name, work) : work();
  }

  const session = {
    current: function () {
      try { return JSON.parse(store.get(SESSION)); } catch (e) { return null; }
    },
    save: function (tenantId, tokens) {
      const saved = {
        tenant_id: tenantId,
        access: tokens.access_token,
        refresh: tokens.refresh_token,
        expires: Date.now() + tokens.expires_in * 1000,
        user: tokens.user,
        mfa: tokens.mfa,
        mfa_enrolment_required: tokens.mfa_enrolment_required,
      };
      store.set(SESSION, JSON.stringify(saved));
      return saved;
    },
    login: async function (tenantId, email, password, otp) {
      const body = { tenant_id: tenantId, email: email, password: password };
      if (otp) body.otp = otp;
      const tokens = await VQ.api("/v1/auth/login", { method: "POST", body: body, credential: null });
      return session.save(tenantId, tokens);
    },
    // A fresh access token; one tab renews, the others use what it got (a refresh token is
    // single use: two tabs spending the same one would end the session).
    renew: async function (force) {
      const before = session.current();
      if (!before) return false;
      return withLock("vq-session-refresh", async function () {
        const now = session.current();
        if (!now) return false;
        if (now.access !== before.access || (!force && now.expires - Date.now() > EARLY_MS)) {
          return true;
        }
        try {
          const tokens = await VQ.request("/v1/auth/refresh", {
            method: "POST", body: { refresh_token: now.refresh },
          }, null, null);
          session.save(now.tenant_id, tokens);
          return true;
        } catch (problem) {
          if (problem.status >= 400 && problem.status < 500) session.end();
          return false;
        }
      });
    },
    access: async function () {
      let now = session.current();
      if (now && now.expires - Date.now() <= EARLY_MS) {
        await session.renew(false);
        now = session.current();
      }
      if (!now) throw new Problem(401, { type: "/problems/unauthorized" });
      return now.access;
    },
    end: function () {
      store.set(SESSION, null);
      window.dispatchEvent(new CustomEvent("vq:signed-out"));
    },
    logout: async function () {
      try {
        await VQ.api("/v1/auth/logout", { method: "POST", credential: session.credential });
      } catch (e) { /* signed out here whatever the server says */ }
      session.end();
    },
    credential: {
      kind: "session",
      headers: async function () { return { Authorization: "Bearer " + await session.access() }; },
    },
  };
  window.addEventListener("storage", function (event) {
    if (event.key === SESSION && !event.newValue) {
      window.dispatchEvent(new CustomEvent("vq:signed-out"));
    }
  });

  VQ.session = session;
})();
