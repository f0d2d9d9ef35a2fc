//! The `#[trace]` attribute for threadline: re-exported as `threadline::trace`.

use proc_macro::TokenStream;
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::{parse_macro_input, ItemFn, LitStr, Token};

struct Args {
    name: Option<LitStr>,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut name = None;
        while !input.is_empty() {
            let key: syn::Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            if key == "name" {
                if name.is_some() {
                    return Err(syn::Error::new(key.span(), "`name` is given twice"));
                }
                name = Some(input.parse()?);
            } else {
                return Err(syn::Error::new(
                    key.span(),
                    format!("unknown argument `{key}`; expected `name = \"...\"`"),
                ));
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(Args { name })
    }
}

/// Instruments a function with a span named after it, or `#[trace(name = "...")]`.
///
/// A synchronous function holds a span guard for the whole call. An `async fn` runs its body
/// in an owned span that is current during every poll and ends when the body completes.
#[proc_macro_attribute]
pub fn trace(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = parse_macro_input!(args as Args);
    let func = parse_macro_input!(item as ItemFn);
    expand(args, func).into()
}

fn expand(args: Args, func: ItemFn) -> proc_macro2::TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = func;
    let name = args
        .name
        .map(|lit| lit.value())
        .unwrap_or_else(|| sig.ident.to_string());
    if sig.asyncness.is_some() {
        quote! {
            #(#attrs)*
            #vis #sig {
                ::threadline::__private::FutureExt::in_span(
                    async move #block,
                    ::threadline::__private::async_span(#name),
                )
                .await
            }
        }
    } else {
        quote! {
            #(#attrs)*
            #vis #sig {
                let __threadline_guard = ::threadline::__private::enter(#name);
                #block
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(args: &str, item: &str) -> String {
        let args: Args = syn::parse_str(args).unwrap();
        let func: ItemFn = syn::parse_str(item).unwrap();
        expand(args, func).to_string()
    }

    #[test]
    fn sync_function_gets_a_guard_named_after_it() {
        let out = expand_str("", "fn add(a: i32, b: i32) -> i32 { a + b }");
        assert!(out.contains("__private :: enter (\"add\")"), "{out}");
    }

    #[test]
    fn name_overrides() {
        let out = expand_str("name = \"sum\"", "fn add() {}");
        assert!(out.contains("enter (\"sum\")"), "{out}");
    }

    #[test]
    fn async_function_runs_in_span() {
        let out = expand_str("", "async fn fetch() -> u8 { 1 }");
        assert!(out.contains("in_span"), "{out}");
        assert!(out.contains("async_span (\"fetch\")"), "{out}");
    }

    #[test]
    fn unknown_argument_is_an_error() {
        let err = syn::parse_str::<Args>("kind = \"x\"").err().unwrap();
        assert!(err.to_string().contains("unknown argument `kind`"));
    }
}
