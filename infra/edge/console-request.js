// vsecure console edge: a CloudFront Functions viewer-request handler
// (runtime cloudfront-js-2.0) on the console's distribution
// (infra/edge.go).
//
// The console's signed-in pages sit behind the HTTP API's JWT authorizer,
// which reads the Authorization header. A browser sends no header of its
// own when a person clicks an approvalUrl, so this function presents the
// ID token the console keeps in an HttpOnly cookie (console.IDTokenCookie)
// as "Authorization: Bearer <token>". It verifies nothing: the authorizer
// checks the signature, issuer, audience and expiry, and the page function
// checks the session cookie for the same subject. What it adds is the way
// in for a person without a live token: a click is sent to sign in (and
// back) instead of meeting the authorizer's bare 401.
//
// PUBLIC_PATHS is filled in from the route table at synth (edgeCode):
// exact paths, and prefixes that end in "/".
var PUBLIC_PATHS = __PUBLIC_PATHS__;
var ID_TOKEN_COOKIE = '__Host-vsecure-idt';
var SESSION_COOKIE = '__Host-vsecure-session';
// A token this close to its expiry would expire on the way: sign in anew.
var EXPIRY_MARGIN_SECONDS = 30;

function isPublic(uri) {
    for (var i = 0; i < PUBLIC_PATHS.length; i++) {
        var p = PUBLIC_PATHS[i];
        if (p.charAt(p.length - 1) === '/' ? uri.indexOf(p) === 0 : uri === p) {
            return true;
        }
    }
    return false;
}

// expiry is the token's "exp" (Unix seconds), or 0 when it is not a JWT.
function expiry(token) {
    var parts = token.split('.');
    if (parts.length !== 3 || parts[1] === '') {
        return 0;
    }
    try {
        var b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
        var claims = JSON.parse(Buffer.from(b64, 'base64').toString('utf8'));
        return typeof claims.exp === 'number' ? claims.exp : 0;
    } catch (e) {
        return 0;
    }
}

function encoded(v) {
    try {
        return encodeURIComponent(decodeURIComponent(v));
    } catch (e) {
        return encodeURIComponent(v);
    }
}

// here is the request's path and query, to come back to after sign-in.
function here(request) {
    var q = [];
    var qs = request.querystring || {};
    for (var name in qs) {
        var values = qs[name].multiValue || [qs[name]];
        for (var i = 0; i < values.length; i++) {
            q.push(encoded(name) + '=' + encoded(values[i].value));
        }
    }
    return request.uri + (q.length ? '?' + q.join('&') : '');
}

function handler(event) {
    var request = event.request;
    if (request.uri !== '/console' && request.uri.indexOf('/console/') !== 0) {
        // The edge serves the console and nothing else: API clients call
        // ApiUrl, where the gateway sees their own address (per-address
        // limits, the access log), not an edge's.
        return {
            statusCode: 404,
            statusDescription: 'Not Found',
            headers: { 'content-type': { value: 'text/plain; charset=utf-8' } },
            body: { encoding: 'text', data: 'Not found: this host serves the vsecure console; the API is at the stack\'s ApiUrl.' }
        };
    }
    if (isPublic(request.uri)) {
        return request;
    }
    var cookie = request.cookies[ID_TOKEN_COOKIE];
    var token = cookie ? cookie.value : '';
    if (token !== '' && expiry(token) > Date.now() / 1000 + EXPIRY_MARGIN_SECONDS) {
        // It replaces any header the viewer sent: a page is authorized
        // for the token the console put in this browser, or not at all.
        request.headers.authorization = { value: 'Bearer ' + token };
        // The page reads the session, not this cookie: sending the token
        // once keeps the request under the gateway's 10 KB of headers.
        delete request.cookies[ID_TOKEN_COOKIE];
        return request;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
        // A form post cannot be replayed after a sign-in round trip.
        return {
            statusCode: 401,
            statusDescription: 'Unauthorized',
            headers: {
                'cache-control': { value: 'no-store' },
                'content-type': { value: 'text/plain; charset=utf-8' }
            },
            body: { encoding: 'text', data: 'Your sign-in has expired: reload the page and sign in again.' }
        };
    }
    // A person whose session is still open goes straight back to the
    // identity provider, which usually signs them in without a prompt;
    // anyone else sees the sign-in page.
    var to = request.cookies[SESSION_COOKIE] ? '/console/oidc/start' : '/console/signin';
    return {
        statusCode: 302,
        statusDescription: 'Found',
        headers: {
            'location': { value: to + '?returnTo=' + encodeURIComponent(here(request)) },
            'cache-control': { value: 'no-store' }
        }
    };
}
