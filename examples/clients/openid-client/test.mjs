// Drives a running Scopeline issuer with openid-client (v6, on
// oauth4webapi) the way an application would, against the tenant in
// tenant.yaml: private_key_jwt client credentials, a DPoP-bound
// authorization code flow with pushed authorization requests and refresh,
// a public client's DPoP-bound refresh token, token exchange through the
// generic grant, introspection and revocation.
//
//   scopeline serve --config examples/clients/openid-client/tenant.yaml &
//   SCOPELINE_ISSUER=http://127.0.0.1:8080/ npm test
//
// Without SCOPELINE_ISSUER every test is skipped.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { createHash, webcrypto } from 'node:crypto'
import * as client from 'openid-client'

const issuerURL = process.env.SCOPELINE_ISSUER
const skip = issuerURL ? false : 'SCOPELINE_ISSUER is not set'
const API = 'https://api.example.com'
const BILLING = 'https://billing.example.com'
const REDIRECT = 'http://localhost:3000/callback'
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token'

// The tests of what an issuer may not serve yet are skipped unless its
// discovery document advertises it.
const metadata = issuerURL ? await (await fetch(new URL('.well-known/openid-configuration', issuerURL))).json() : {}
const unless = (advertised, what) => skip || (advertised ? false : `the issuer does not advertise ${what}`)
const skipExchange = unless(metadata.grant_types_supported?.includes(TOKEN_EXCHANGE), 'token exchange')
const skipIntrospection = unless(metadata.introspection_endpoint && metadata.revocation_endpoint, 'introspection and revocation')

// http is allowed on loopback issuers only, as Scopeline allows it.
const insecure = { execute: [client.allowInsecureRequests] }

// The clients' private key (test-client-key.pem; its public half is in
// tenant.yaml as node-m2m's and node-web's jwks).
async function clientKey () {
  const pem = await readFile(new URL('./test-client-key.pem', import.meta.url), 'utf8')
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64')
  const key = await webcrypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign'])
  return { key, kid: 'node-test-key' }
}

async function configFor (clientId, auth) {
  return client.discovery(new URL(issuerURL), clientId, undefined, auth, insecure)
}

// claims decodes a JWT's payload (the signature is the issuer's business
// and the API's; these tests check what the issuer put in).
function claims (jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString())
}

// thumbprint is the RFC 7638 thumbprint of a DPoP key pair's public key.
async function thumbprint (keyPair) {
  const jwk = await webcrypto.subtle.exportKey('jwk', keyPair.publicKey)
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })
  return createHash('sha256').update(canonical).digest('base64url')
}

// signIn follows an authorization URL through the hosted login (and
// consent) pages as alice, and returns the redirect back to the client.
async function signIn (authorizationURL) {
  const cookies = new Map()
  const send = async (url, init = {}) => {
    const headers = new Headers(init.headers)
    if (cookies.size) headers.set('cookie', [...cookies].map(([k, v]) => `${k}=${v}`).join('; '))
    const res = await fetch(url, { ...init, headers, redirect: 'manual' })
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';')
      const i = pair.indexOf('=')
      cookies.set(pair.slice(0, i), pair.slice(i + 1))
    }
    return res
  }
  let res = await send(authorizationURL)
  for (let step = 0; step < 10; step++) {
    const location = res.headers.get('location')
    if (location) {
      const next = new URL(location, res.url || authorizationURL)
      if (next.href.startsWith(REDIRECT)) return next
      res = await send(next)
      continue
    }
    assert.equal(res.status, 200, `the sign-in page answered ${res.status}`)
    const html = await res.text()
    const action = new URL(html.match(/<form method="post" action="([^"]+)"/)[1].replaceAll('&amp;', '&'), issuerURL)
    const form = new URLSearchParams()
    for (const [, name, value] of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)) form.set(name, value.replaceAll('&amp;', '&'))
    if (html.includes('name="password"')) {
      form.set('username', 'alice')
      form.set('password', 'alice-password')
    } else {
      form.set('decision', 'allow')
    }
    res = await send(action, { method: 'POST', body: form, headers: { 'content-type': 'application/x-www-form-urlencoded', origin: new URL(issuerURL).origin } })
  }
  assert.fail('the sign-in did not come back to the client')
}

test('private_key_jwt client credentials', { skip }, async () => {
  const config = await configFor('node-m2m', client.PrivateKeyJwt(await clientKey()))
  const md = config.serverMetadata()
  assert.ok(md.token_endpoint_auth_methods_supported.includes('private_key_jwt'))
  assert.ok(md.token_endpoint_auth_signing_alg_values_supported.includes('ES256'))
  const tokens = await client.clientCredentialsGrant(config, { audience: API, scope: 'read:users' })
  assert.equal(tokens.token_type.toLowerCase(), 'bearer')
  assert.equal(tokens.scope, 'read:users')
  const c = claims(tokens.access_token)
  assert.equal(c.sub, 'node-m2m')
  assert.equal(c.client_id, 'node-m2m')
  assert.equal(c.aud, API)
  // Each grant signs a fresh assertion (a fresh jti): a second one works.
  await client.clientCredentialsGrant(config, { audience: API, scope: 'read:users' })
})

test('DPoP-bound authorization code flow with PAR, and refresh', { skip }, async () => {
  const md = (await configFor('node-web', client.None())).serverMetadata()
  assert.ok(md.pushed_authorization_request_endpoint, 'PAR endpoint advertised')
  assert.ok(md.dpop_signing_alg_values_supported.includes('ES256'))
  const config = await configFor('node-web', client.PrivateKeyJwt(await clientKey()))
  const keyPair = await client.randomDPoPKeyPair('ES256')
  const DPoP = client.getDPoPHandle(config, keyPair)
  const verifier = client.randomPKCECodeVerifier()
  const state = client.randomState()
  const url = await client.buildAuthorizationUrlWithPAR(config, {
    redirect_uri: REDIRECT,
    scope: 'openid offline_access read:users',
    audience: API,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state
  }, { DPoP })
  assert.ok(url.searchParams.get('request_uri').startsWith('urn:ietf:params:oauth:request_uri:'))
  const callback = await signIn(url)
  const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state }, undefined, { DPoP })
  assert.equal(tokens.token_type.toLowerCase(), 'dpop')
  assert.equal(claims(tokens.access_token).cnf.jkt, await thumbprint(keyPair))
  assert.equal(claims(tokens.access_token).sub, 'alice')
  assert.ok(tokens.refresh_token)

  // The request_uri was single use.
  const again = await fetch(url, { redirect: 'manual' })
  assert.notEqual(again.status, 200)
  if (again.headers.get('location')?.startsWith(REDIRECT)) {
    assert.ok(new URL(again.headers.get('location')).searchParams.get('error'))
  }

  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP })
  assert.equal(refreshed.token_type.toLowerCase(), 'dpop')
  assert.equal(claims(refreshed.access_token).cnf.jkt, await thumbprint(keyPair))
})

test("a public client's refresh token is bound to its DPoP key", { skip }, async () => {
  const config = await configFor('node-spa', client.None())
  const keyPair = await client.randomDPoPKeyPair('ES256')
  const DPoP = client.getDPoPHandle(config, keyPair)
  const verifier = client.randomPKCECodeVerifier()
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT,
    scope: 'offline_access read:users',
    audience: API,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    dpop_jkt: await thumbprint(keyPair)
  })
  const tokens = await client.authorizationCodeGrant(config, await signIn(url), { pkceCodeVerifier: verifier, expectedState: client.skipStateCheck }, undefined, { DPoP })
  assert.equal(tokens.token_type.toLowerCase(), 'dpop')
  // Another key cannot use the refresh token.
  const thief = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'))
  await assert.rejects(client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP: thief }),
    (err) => ['invalid_grant', 'invalid_dpop_proof'].includes(err.error))
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP })
  assert.equal(claims(refreshed.access_token).cnf.jkt, await thumbprint(keyPair))
})

test('token exchange through the generic grant', { skip: skipExchange }, async () => {
  const config = await configFor('node-m2m', client.PrivateKeyJwt(await clientKey()))
  const subject = await client.clientCredentialsGrant(config, { audience: API, scope: 'read:users' })
  const actor = await client.clientCredentialsGrant(config, { audience: API, scope: 'read:users' })
  const exchanged = await client.genericGrantRequest(config, TOKEN_EXCHANGE, {
    subject_token: subject.access_token,
    subject_token_type: ACCESS_TOKEN_TYPE,
    actor_token: actor.access_token,
    actor_token_type: ACCESS_TOKEN_TYPE,
    audience: BILLING,
    scope: 'read:invoices'
  })
  assert.equal(exchanged.issued_token_type, ACCESS_TOKEN_TYPE)
  const c = claims(exchanged.access_token)
  assert.equal(c.aud, BILLING)
  assert.equal(c.scope, 'read:invoices')
  assert.equal(c.sub, 'node-m2m')
  assert.deepEqual(c.act, { sub: 'node-m2m' })
  // Outside the exchange grant: refused.
  await assert.rejects(client.genericGrantRequest(config, TOKEN_EXCHANGE, {
    subject_token: exchanged.access_token,
    subject_token_type: ACCESS_TOKEN_TYPE,
    audience: API
  }), (err) => ['access_denied', 'invalid_target', 'unauthorized_client'].includes(err.error))
})

test('introspection and revocation', { skip: skipIntrospection }, async () => {
  const config = await configFor('node-m2m', client.PrivateKeyJwt(await clientKey()))
  assert.ok(config.serverMetadata().introspection_endpoint)
  assert.ok(config.serverMetadata().revocation_endpoint)
  const tokens = await client.clientCredentialsGrant(config, { audience: API, scope: 'read:users write:users' })
  const active = await client.tokenIntrospection(config, tokens.access_token)
  assert.equal(active.active, true)
  assert.equal(active.client_id, 'node-m2m')
  assert.equal(active.scope, 'read:users write:users')
  assert.equal(active.aud, API)
  assert.equal(active.jti, claims(tokens.access_token).jti)

  // Revoked by jti (the API has access_token_denylist): inactive from now on.
  await client.tokenRevocation(config, tokens.access_token, { token_type_hint: 'access_token' })
  assert.equal((await client.tokenIntrospection(config, tokens.access_token)).active, false)
  // Garbage is inactive, not an error.
  assert.equal((await client.tokenIntrospection(config, 'not-a-token')).active, false)
  // Revoking an unknown token succeeds (RFC 7009 §2.2).
  await client.tokenRevocation(config, 'not-a-token')
})

test('a client not allowed to introspect is refused', { skip: skipIntrospection }, async () => {
  const config = await configFor('node-web', client.PrivateKeyJwt(await clientKey()))
  await assert.rejects(client.tokenIntrospection(config, 'any-token'),
    (err) => ['unauthorized_client', 'invalid_client', 'access_denied'].includes(err.error) || err.status === 403)
})

test("revoking another client's token revokes nothing", { skip }, async () => {
  const m2m = await configFor('node-m2m', client.PrivateKeyJwt(await clientKey()))
  const web = await configFor('node-web', client.PrivateKeyJwt(await clientKey()))
  const tokens = await client.clientCredentialsGrant(m2m, { audience: API, scope: 'read:users' })
  // node-web may not revoke node-m2m's tokens: 200 (RFC 7009 §2.2), and the token stays active.
  await client.tokenRevocation(web, tokens.access_token)
  assert.equal((await client.tokenIntrospection(m2m, tokens.access_token)).active, true)
})
